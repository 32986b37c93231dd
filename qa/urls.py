from django.urls import path

from qa import views

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
]
