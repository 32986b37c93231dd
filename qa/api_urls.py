from django.urls import path

from qa import api

urlpatterns = [
    path("qa/reviews", api.ReviewListApi.as_view(), name="qa-review-list"),
    path("qa/reviews/next", api.ReviewClaimNextApi.as_view(), name="qa-review-claim-next"),
    path("qa/reviews/<int:review_id>", api.ReviewDetailApi.as_view(), name="qa-review-detail"),
    path("qa/pass-rates", api.PassRatesApi.as_view(), name="qa-pass-rates"),
]
