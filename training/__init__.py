"""Training of the loan-default model and its versioned artifacts.

`train` reads the loan table from the offline store, builds the training frame with Feast's
point-in-time join against the scoring FeatureService (`frame`), fits gradient boosting and
the tutorial's decision tree and a majority baseline (`estimators`), evaluates them on the
latest loans (a time-based holdout, `metrics`: a loan is rejected when P(default) >= the
threshold) and saves a versioned artifact (`artifact`, `metadata`).

It lives here, beside `init_store` and `offline_store`, because it is a batch job on the
offline store like them; the scoring API only reads artifacts, through `artifact` and
`compiled`, so the artifact format is defined once and the API needs no training code.

`artifact` and `metadata` import neither Feast nor the contract (`import feast` costs ~5 s),
so listing or inspecting models stays fast.
"""
