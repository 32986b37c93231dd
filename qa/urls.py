from django.urls import path

from qa import calibration_views, views

app_name = "qa"

urlpatterns = [
    path("qa/", views.home, name="home"),
    path("qa/plans/new/", views.plan_create, name="plan-create"),
    path("qa/plans/<int:plan_id>/", views.plan_detail, name="plan-detail"),
    path("qa/plans/<int:plan_id>/draw/", views.plan_draw, name="plan-draw"),
    path("qa/samples/<int:sample_id>/", views.sample_detail, name="sample-detail"),
    path("qa/reviews/", views.review_list, name="review-list"),
    path("qa/reviews/next/", views.review_claim_next, name="review-claim-next"),
    path("qa/reviews/<int:review_id>/", views.review_detail, name="review-detail"),
    path("qa/reviews/<int:review_id>/claim/", views.review_claim, name="review-claim"),
    path("qa/reviews/<int:review_id>/release/", views.review_release, name="review-release"),
    path("qa/reviews/<int:review_id>/answer/", views.review_answer, name="review-answer"),
    path("qa/reviews/<int:review_id>/score/", views.review_score, name="review-score"),
    path("qa/reviews/<int:review_id>/respond/", views.review_respond, name="review-respond"),
    path(
        "qa/reviews/<int:review_id>/adjudicate/",
        views.review_adjudicate,
        name="review-adjudicate",
    ),
    path("qa/reviews/<int:review_id>/reverse/", views.review_reverse, name="review-reverse"),
    path("qa/feedback/", views.my_feedback, name="my-feedback"),
    path("qa/disputes/", views.dispute_list, name="dispute-list"),
    path("qa/figures/", views.figures, name="figures"),
    path("qa/calibration/", calibration_views.calibration_list, name="calibration-list"),
    path("qa/calibration/new/", calibration_views.calibration_create, name="calibration-create"),
    path(
        "qa/calibration/<int:session_id>/",
        calibration_views.calibration_detail,
        name="calibration-detail",
    ),
    path(
        "qa/calibration/<int:session_id>/invite/",
        calibration_views.calibration_invite,
        name="calibration-invite",
    ),
    path(
        "qa/calibration/<int:session_id>/open/",
        calibration_views.calibration_open,
        name="calibration-open",
    ),
    path(
        "qa/calibration/<int:session_id>/submit/",
        calibration_views.calibration_submit,
        name="calibration-submit",
    ),
    path(
        "qa/calibration/<int:session_id>/close/",
        calibration_views.calibration_close,
        name="calibration-close",
    ),
    path(
        "qa/calibration/<int:session_id>/cases/<int:item_id>/",
        calibration_views.calibration_case,
        name="calibration-case",
    ),
    path(
        "qa/calibration/<int:session_id>/cases/<int:item_id>/clarification/",
        calibration_views.calibration_clarification,
        name="calibration-clarification",
    ),
    path(
        "qa/calibration/<int:session_id>/results/",
        calibration_views.calibration_results,
        name="calibration-results",
    ),
    path(
        "qa/calibration/<int:session_id>/results.csv",
        calibration_views.calibration_export,
        name="calibration-export",
    ),
]
