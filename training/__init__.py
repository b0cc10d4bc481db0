"""Training of the loan-default model.

`train` reads the loan table from the offline store, builds the training frame with Feast's
point-in-time join against the scoring FeatureService (`frame`), fits gradient boosting and
the tutorial's decision tree and a majority baseline (`estimators`), evaluates them on the
latest loans (a time-based holdout, `metrics`: a loan is rejected when P(default) >= the
threshold) and saves a versioned artifact. The artifact format, its metadata and the compiled
scorer are `core.model`: the scoring API reads them without any training code.
"""
