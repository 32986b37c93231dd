"""The XSS corpus: strings an attacker can put in a report, a note, an appeal or a name, each of
which runs code or injects markup if a page inserts it without escaping.

Every payload that could run calls ``xss(<its id>)``: the browser test
defines ``window.xss`` before any page script, so a payload that runs leaves its id in
``window.__xss__`` and prints ``XSS-MARKER <id>`` to the console. Pages are also searched for
what an injection leaves in the DOM even when it does not run (an inline event handler, a
``javascript:`` URL, an element carrying ``data-xss-probe``...), see ``DOM_PROBE``.

``context`` says where a payload bites when inserted raw, and ``wrap`` shows it: the control
test (tests/browser/test_xss_corpus.py) inserts each payload unescaped into its context and
checks that the detectors see it, so a payload that cannot fire is not counted as a test.
Payloads of the ``inert`` context (template syntax, Unicode tricks) run nowhere; they must come
back as the same text (nothing evaluated, stripped or normalised).
"""

from __future__ import annotations

from dataclasses import dataclass

# Where a payload is inserted raw by the control test; ``{}`` is the payload.
CONTEXTS = {
    "html": "<div>{}</div>",
    "attribute": '<input value="{}">',
    "attribute-single": "<input value='{}'>",
    "unquoted-attribute": "<input value={}>",
    "textarea": "<textarea>{}</textarea>",
    "title": "<title>{}</title>",
    "script-data": '<script type="application/json">{}</script>',
    "url": '<a href="{}">link</a>',
    "style": "<style>{}</style>",
    "comment": "<!-- {} -->",
    "inert": "<div>{}</div>",
}


@dataclass(frozen=True)
class Payload:
    id: int
    family: str
    context: str
    text: str

    def wrap(self) -> str:
        """The payload inserted raw into its context (what an escaping bug would produce)."""
        return CONTEXTS[self.context].format(self.text)


_RAW: list[tuple[str, str, str]] = [
    # --- script elements
    ("script", "html", "<script>xss({id})</script>"),
    ("script", "html", "<ScRiPt>xss({id})</sCrIpT>"),
    ("script", "html", "<script src=data:text/javascript,xss({id})></script>"),
    ("script", "html", "<<script>xss({id});//<</script>"),
    ("script", "html", '<script>/*"*/xss({id})//</script>'),
    # --- event handlers
    ("event handler", "html", "<img src=x onerror=xss({id})>"),
    ("event handler", "html", '<img src="x" onerror="xss({id})">'),
    ("event handler", "html", "<img src=x onerror=&#x78;&#x73;&#x73;&#x28;{id}&#x29;>"),
    ("event handler", "html", "<body onload=xss({id})>"),
    ("event handler", "html", "<details open ontoggle=xss({id})>"),
    ("event handler", "html", "<input autofocus onfocus=xss({id})>"),
    ("event handler", "html", "<video><source onerror=xss({id})></video>"),
    ("event handler", "html", "<audio src=x onerror=xss({id})>"),
    ("event handler", "html", "<marquee onstart=xss({id})>m</marquee>"),
    ("event handler", "html", "<select autofocus onfocus=xss({id})></select>"),
    ("event handler", "html", '<div onmouseover="xss({id})" data-xss-probe>hover</div>'),
    ("event handler", "html", "<img src=x onerror=xss({id})//"),
    ("event handler", "html", '<img """><script>xss({id})</script>">'),
    ("event handler", "html", "<iframe onload=xss({id})></iframe>"),
    ("event handler", "html", "<object data=x onerror=xss({id})></object>"),
    # --- SVG and MathML
    ("svg", "html", "<svg onload=xss({id})>"),
    ("svg", "html", "<svg/onload=xss({id})>"),
    ("svg", "html", "<svg><script>xss({id})</script></svg>"),
    ("svg", "html", "<svg><animate onbegin=xss({id}) attributeName=x dur=1s>"),
    ("svg", "html", '<svg><a href="javascript:xss({id})"><text x=20 y=20>x</text></a></svg>'),
    ("svg", "html", "<svg><foreignObject><img src=x onerror=xss({id})></foreignObject></svg>"),
    ("svg", "html", "<math><mtext><table><mglyph><style><img src=x onerror=xss({id})>"),
    # --- javascript: and data: URLs in markup
    ("javascript url", "html", '<a href="javascript:xss({id})" data-xss-probe>click</a>'),
    ("javascript url", "html", '<iframe src="javascript:xss({id})"></iframe>'),
    ("javascript url", "html", '<iframe srcdoc="<script>parent.xss({id})</script>"></iframe>'),
    ("javascript url", "html", '<form action="javascript:xss({id})"><button>go</button></form>'),
    ("javascript url", "html", '<embed src="javascript:xss({id})">'),
    ("javascript url", "html", '<object data="data:text/html,<script>xss({id})</script>">'),
    ("javascript url", "html", "<IMG SRC=JaVaScRiPt:xss({id})>"),
    ("javascript url", "html", '<meta http-equiv="refresh" content="0;url=javascript:xss({id})">'),
    ("javascript url", "html", '<base href="javascript:xss({id})//">'),
    # --- broken markup: leaving an attribute, a text element, a comment or a script block
    ("attribute breaker", "attribute", '"><script>xss({id})</script>'),
    ("attribute breaker", "attribute", '" autofocus onfocus="xss({id})'),
    ("attribute breaker", "attribute", '"/><svg onload=xss({id})>'),
    ("attribute breaker", "attribute-single", "' autofocus onfocus='xss({id})"),
    ("attribute breaker", "attribute-single", "'><img src=x onerror=xss({id})>"),
    ("attribute breaker", "unquoted-attribute", "x onfocus=xss({id}) autofocus"),
    ("broken markup", "textarea", "</textarea><script>xss({id})</script>"),
    ("broken markup", "title", "</title><script>xss({id})</script>"),
    ("broken markup", "script-data", "</script><script>xss({id})</script>"),
    ("broken markup", "style", "</style><img src=x onerror=xss({id})>"),
    ("broken markup", "comment", "--><img src=x onerror=xss({id})>"),
    ("broken markup", "html", '<!--<img src="--><img src=x onerror=xss({id})//">'),
    ("broken markup", "html", '<noscript><p title="</noscript><img src=x onerror=xss({id})>">'),
    ("broken markup", "html", "<i data-xss-probe>unescaped markup</i>"),
    # --- javascript: URLs where a URL is expected
    ("javascript url", "url", "javascript:xss({id})"),
    ("javascript url", "url", "JaVaScRiPt:xss({id})"),
    ("javascript url", "url", " javascript:xss({id})"),
    ("javascript url", "url", "data:text/html,<script>xss({id})</script>"),
    # --- CSS
    ("css", "html", '<div style="width: expression(xss({id}))" data-xss-probe>css</div>'),
    ("css", "html", '<div style="background:url(javascript:xss({id}))" data-xss-probe>css</div>'),
    ("css", "html", "<style>@import 'javascript:xss({id})';</style>"),
    ("css", "html", '<link rel="stylesheet" href="javascript:xss({id})">'),
    # --- polyglot
    (
        "polyglot",
        "html",
        "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=xss({id}) )//%0D%0A%0d%0a//"
        "</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=xss({id})//>\\x3e",
    ),
    # --- htmx: attributes htmx would act on if markup got in
    ("htmx", "html", '<div hx-get="/admin/" hx-trigger="load" data-xss-probe>htmx</div>'),
    ("htmx", "html", '<img src=x hx-on:htmx:load="xss({id})" data-xss-probe>'),
    # --- template injection: no template engine may evaluate them
    ("template injection", "inert", "{{7*7}}"),
    ("template injection", "inert", "{% debug %}"),
    ("template injection", "inert", "${7*7}"),
    ("template injection", "inert", "#{7*7}"),
    ("template injection", "inert", "<%= 7*7 %>"),
    ("template injection", "inert", "{{ settings.SECRET_KEY }}"),
    ("template injection", "inert", "{{constructor.constructor('xss({id})')()}}"),
    ("template injection", "inert", "{% load log %}{% get_admin_log 10 as log %}"),
    # --- pre-encoded text: must come back as the same characters, not decoded
    ("encoding", "inert", "&lt;script&gt;xss({id})&lt;/script&gt;"),
    ("encoding", "inert", "%3Cscript%3Exss({id})%3C/script%3E"),
    ("encoding", "inert", "\\u003cscript\\u003exss({id})\\u003c/script\\u003e"),
    ("encoding", "inert", "\uff1cscript\uff1exss({id})\uff1c/script\uff1e"),
    # --- Unicode tricks
    ("unicode", "inert", "RTL \u202egnp.exe (right-to-left override)"),
    ("unicode", "inert", "zero\u200bwidth\u200cjoin\u200dword\u2060joiner\ufeffbom"),
    ("unicode", "inert", "homoglyph \u0430dmin \u0440aypal \u0455upport"),
    ("unicode", "inert", "control \x01\x07\x1b[31m ansi \x7f"),
    ("unicode", "inert", "Z\u0334\u0327a\u0335l\u0338g\u0336o\u0337 combining"),
    ("unicode", "inert", "line\u2028separator\u2029paragraph"),
    ("unicode", "inert", "astral \U0001d54f\U0001d54a\U0001d54a \U0001f600"),
]

# ``{id}`` in a payload becomes its number, so that a payload that runs says which it is.
PAYLOADS: tuple[Payload, ...] = tuple(
    Payload(id=n, family=family, context=context, text=text.replace("{id}", str(n)))
    for n, (family, context, text) in enumerate(_RAW, start=1)
)
BY_ID = {p.id: p for p in PAYLOADS}
ACTIVE = tuple(p for p in PAYLOADS if p.context != "inert")
INERT = tuple(p for p in PAYLOADS if p.context == "inert")

# A word every long field carries, so that full-text search finds the corpus case.
SEARCH_WORD = "xsscorpusprobe"
# NUL is refused by intake (PostgreSQL text cannot hold it); tested separately.
NUL_PAYLOAD = "nul\x00byte<script>xss(0)</script>"


def pack(limit: int, start: int = 0, sep: str = "\n") -> str:
    """As many payloads as fit in ``limit`` characters, from the ``start``-th on (wrapping
    round), with SEARCH_WORD first: long fields carry the whole corpus, shorter ones a slice."""
    parts = [SEARCH_WORD]
    size = len(SEARCH_WORD)
    count = len(PAYLOADS)
    for offset in range(count):
        text = PAYLOADS[(start + offset) % count].text
        if size + len(sep) + len(text) > limit:
            break
        parts.append(text)
        size += len(sep) + len(text)
    return sep.join(parts)


def short(n: int, limit: int = 100) -> str:
    """The n-th payload (wrapping round) that fits a short field (ids, names)."""
    fitting = [p.text for p in PAYLOADS if len(p.text) <= limit and "\x00" not in p.text]
    return fitting[n % len(fitting)]


# Defines the marker before any page script runs (Playwright's add_init_script).
INIT_SCRIPT = """
window.__xss__ = undefined;
window.xss = function (id) {
  (window.__xss__ = window.__xss__ || []).push(id);
  console.log("XSS-MARKER " + id);
};
"""

# What an injection leaves in the DOM, whether or not it ran (and whether or not the CSP
# stopped it). The console's own markup has none of these: no inline handlers, no inline
# scripts but json_script data blocks, no frames or plugins, no <base>, no style with a URL.
DOM_PROBE = """() => {
  const hits = [];
  const urlAttrs = ["href", "src", "action", "formaction", "data", "xlink:href", "background",
                    "poster", "codebase", "srcdoc", "content"];
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, "").toLowerCase();
      if (name.startsWith("on")) hits.push(describe(el) + " [" + name + "]");
      if (name === "data-xss-probe") hits.push(describe(el) + " [data-xss-probe]");
      if (/^(data-)?hx-on/.test(name)) hits.push(describe(el) + " [" + name + "]");
      if (name === "style" && /expression\\(|javascript:|url\\(/.test(value)) {
        hits.push(describe(el) + " [style=" + value.slice(0, 40) + "]");
      }
      if (name === "srcdoc") hits.push(describe(el) + " [srcdoc]");
      const target = value.replace(/^url=|^\\d+;url=/, "");
      if (urlAttrs.includes(name) && /^(javascript|vbscript|data:text\\/html)/.test(target)) {
        hits.push(describe(el) + " [" + name + "=" + value.slice(0, 40) + "]");
      }
    }
    const tag = el.tagName.toLowerCase();
    if (["iframe", "frame", "frameset", "object", "embed", "applet", "base", "marquee",
         "isindex", "keygen", "video", "audio", "noscript"].includes(tag)) {
      hits.push("<" + tag + ">");
    }
    if (tag === "meta" && el.getAttribute("http-equiv")) hits.push("<meta http-equiv>");
    if (tag === "style" || (tag === "link" && el.closest("body"))) hits.push("<" + tag + ">");
    if (tag === "script") {
      const src = el.getAttribute("src");
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (src === null && type !== "application/json") hits.push("inline <script>");
      const local = src !== null && src.startsWith("/") && !src.startsWith("//");
      if (src !== null && !local) hits.push("<script src=" + src + ">");
    }
  }
  return hits;
}"""
