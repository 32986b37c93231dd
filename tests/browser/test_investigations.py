"""Investigation files in a real browser: a senior opens a file from the form, links a case,
writes findings and a note, exports the PDF report; the list, form and file pages are
axe-clean, and a member analyst reads the file without its edit forms. Screenshots at
1440x900 go to /tmp/shots/investigations-*.png; the report's first page is rendered to
/tmp/shots/investigations-report-1.png when pdftoppm is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cases.intake import report_submit
from tests.browser.axe import assert_no_serious_violations, install_axe
from tests.browser.conftest import PASSWORD
from tests.conftest import make_member
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def _listing(platform, name: str, device: str) -> int:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"inv-report-{name}",
            "reason": "scam_fraud",
            "description": "Asked for gift card codes, never shipped",
            "reporter_id": f"buyer-{name}",
            "subject": {
                "kind": "listing",
                "external_id": f"listing-{name}",
                "owner_id": name,
                "text": f"PS5 bundle, gift cards only ({name})",
            },
            "identifiers": [
                {"kind": "device", "value": device},
                {"kind": "ip", "value": "1.2.3.4"},
            ],
        },
    )
    assert result.errors is None, result.errors
    return result.case_id


@pytest.fixture
def people(live_server) -> dict:
    platform = make_member("platform_svc", roles.PLATFORM)
    cases = [_listing(platform, f"seller-{n}", "dev-shared-1") for n in range(4)]
    return {
        "senior": make_member("grace_senior", roles.SENIOR),
        "analyst": make_member("noor_analyst", roles.ANALYST),
        "cases": cases,
    }


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"investigations-{name}.png"), full_page=False)


def _sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def _context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    install_axe(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return context, page, errors


def _render_first_page(pdf: bytes) -> None:
    """The report's first page as a PNG, to look at (when poppler's pdftoppm is there)."""
    if not shutil.which("pdftoppm"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    source = SHOTS / "investigations-report.pdf"
    source.write_bytes(pdf)
    for page_number in (1, 2):
        subprocess.run(  # noqa: S603 - a fixed program on a file this test wrote
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                str(page_number),
                "-l",
                str(page_number),
                "-singlefile",
                str(source),
                str(SHOTS / f"investigations-report-{page_number}"),
            ],
            check=True,
        )


def test_a_senior_opens_a_file_links_a_case_and_exports_the_report(browser, live_server, people):
    context, page, errors = _context(browser, live_server)
    _sign_in(page, live_server, "grace_senior")

    page.goto("/investigations/")
    assert page.get_by_test_id("investigation-table").is_visible()
    _shot(page, "list-empty")
    assert_no_serious_violations(page, "investigation list (empty)")

    page.get_by_test_id("investigation-new").click()
    page.wait_for_load_state("load")
    page.get_by_label("Title").fill("Gift-card sellers on one device")
    page.get_by_label("Hypothesis").fill("One operator behind four sellers.")
    page.get_by_label("Accounts").fill("seller-0\nseller-1\nseller-2")
    page.get_by_label("Cases").fill(str(people["cases"][0]))
    page.get_by_label("Members").fill("noor_analyst")
    _shot(page, "form")
    assert_no_serious_violations(page, "new investigation form")
    with page.expect_navigation():
        page.get_by_role("button", name="Open investigation").click()
    assert page.get_by_test_id("investigation-title").inner_text() == (
        "Gift-card sellers on one device"
    )
    assert page.get_by_test_id("linked-account").count() == 3

    # Link another case, write findings, add a note.
    link = page.get_by_test_id("investigation-link-form")
    link.get_by_label("Link a").select_option("cases")
    link.get_by_label("Ids").fill(str(people["cases"][3]))
    with page.expect_navigation():
        link.get_by_role("button", name="Add link").click()
    assert page.get_by_test_id("linked-case").count() == 2
    edit = page.get_by_test_id("investigation-edit-form")
    edit.get_by_label("Findings").fill("All four listings come from one device.")
    with page.expect_navigation():
        edit.get_by_role("button", name="Save").click()
    assert "one device" in page.get_by_test_id("investigation-findings").inner_text()
    page.get_by_label("Add a note").fill("Buyers paid with Steam cards.")
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").click()
    assert page.get_by_test_id("investigation-note").count() == 1
    _shot(page, "detail")
    assert_no_serious_violations(page, "investigation page")

    # The export: a PDF download, in the access log.
    with page.expect_download() as download:
        page.get_by_test_id("investigation-report").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert AccessLog.objects.filter(action=AccessLog.Action.EXPORTED).count() == 1
    _render_first_page(pdf)

    page.goto("/investigations/")
    _shot(page, "list")
    assert_no_serious_violations(page, "investigation list")

    assert not errors, errors
    # An error state: a case nobody may link (no such case) is named on the form (the page
    # answers 400, which the browser reports as a failed load).
    page.goto("/investigations/new/")
    page.get_by_label("Title").fill("Bad links")
    page.get_by_label("Cases").fill("999999")
    page.get_by_role("button", name="Open investigation").click()
    page.wait_for_load_state("load")
    assert "#999999" in page.content()
    _shot(page, "form-errors")
    assert_no_serious_violations(page, "new investigation form with errors")
    assert [e for e in errors if "status of 400" not in e] == [], errors
    context.close()

    # The member analyst reads the file, without its edit forms.
    context, page, errors = _context(browser, live_server)
    _sign_in(page, live_server, "noor_analyst")
    page.goto("/investigations/")
    page.get_by_role("link", name="Gift-card sellers on one device").click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("investigation-edit-form").count() == 0
    assert page.get_by_test_id("linked-account").count() == 3
    _shot(page, "member-view")
    assert_no_serious_violations(page, "investigation page, member view")
    assert not errors, errors
    context.close()
