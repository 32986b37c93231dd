"""Background jobs: one worker claims a job, a stalled job is taken over, progress and the
result are kept, and only the creator and approving seniors read it over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIClient

from tsops import jobs
from tsops.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(analyst) -> Job:
    return jobs.job_create(kind="test.kind", subject_id=7, created_by=analyst, total=10)


def test_a_job_is_claimed_by_one_worker_only(job):
    assert jobs.job_start(job.pk) is True
    assert jobs.job_start(job.pk) is False
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert job.attempts == 1


def test_a_job_whose_worker_stopped_beating_is_taken_over(job, settings):
    assert jobs.job_start(job.pk)
    later = timezone.now() + timedelta(seconds=settings.TSOPS_JOB_STALE_SECONDS + 5)
    with time_machine.travel(later, tick=False):
        assert jobs.jobs_stalled(kind="test.kind") == [job.pk]
        assert jobs.job_start(job.pk) is True
        assert jobs.jobs_stalled(kind="test.kind") == []
    job.refresh_from_db()
    assert job.attempts == 2


def test_progress_keeps_the_result_and_a_finished_job_is_not_claimed(job):
    jobs.job_start(job.pk)
    jobs.job_progress(job.pk, done=4, first="a")
    jobs.job_progress(job.pk, done=6, second="b")
    job.refresh_from_db()
    assert (job.done, job.result) == (6, {"first": "a", "second": "b"})
    jobs.job_finish(job.pk, counts={"done": 10})
    job.refresh_from_db()
    assert job.status == Job.Status.DONE
    assert job.done == 10 and job.fraction == 1.0
    assert job.result["counts"] == {"done": 10}
    assert jobs.job_start(job.pk) is False


def test_the_creator_and_seniors_see_a_job_and_nobody_else(job, analyst, analyst2, senior):
    assert jobs.job_get_for(actor=analyst, job_id=job.pk) == job
    assert jobs.job_get_for(actor=senior, job_id=job.pk) == job
    with pytest.raises(Http404):
        jobs.job_get_for(actor=analyst2, job_id=job.pk)
    with pytest.raises(Http404):
        jobs.job_get_for(actor=analyst, job_id=job.pk + 1000)


def test_the_api_answers_progress(job, analyst, analyst2):
    client = APIClient()
    client.force_authenticate(analyst)
    jobs.job_start(job.pk)
    jobs.job_progress(job.pk, done=5)
    body = client.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["status"] == "running"
    assert (body["done"], body["total"], body["progress"]) == (5, 10, 0.5)
    client.force_authenticate(analyst2)
    assert client.get(f"/api/v1/jobs/{job.pk}").status_code == 404
