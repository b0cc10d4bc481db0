"""The credit-scoring feature contract: entities, sources, feature views and the model's service.

This file is the single list of entities and features. Event schemas, Postgres tables, the
training frame and the API's feature vector are all derived from these objects
(`core.contract`); nothing else types a feature name.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, PushSource, RequestSource, ValueType
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Float64, Int64, String

# A person: date of birth + last four SSN digits, e.g. "19630621_4278". Sensitive: mask in logs.
dob_ssn = Entity(
    name="dob_ssn",
    join_keys=["dob_ssn"],
    value_type=ValueType.STRING,
    description="Date of birth (YYYYMMDD) and last four SSN digits, e.g. 19630621_4278",
    # Validation of event keys and API input reads these (core.contract.EntityKey).
    tags={"pattern": r"^[0-9]{8}_[0-9]{4}$", "starts_with_date": "true", "sensitive": "true"},
)

# A US zipcode (5 digits as an integer).
zipcode = Entity(
    name="zipcode",
    join_keys=["zipcode"],
    value_type=ValueType.INT64,
    description="US zipcode as an integer",
    tags={"minimum": "0", "maximum": "99999"},
)

# Offline history of credit reports: one row per report, appended by init and the processor.
credit_history_table = PostgreSQLSource(
    name="credit_history_table",
    table="credit_history",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)

# Streamed credit-report updates enter the online store through this push source.
credit_history_push = PushSource(
    name="credit_history_push",
    batch_source=credit_history_table,
)

# Value constraints, as tags of a field (read by core.contract; events breaking them are
# dead-lettered, producers refuse them, the API answers 422): "minimum", "maximum" and
# "exclusive_minimum" bound a number; "at_most" names a field of the same view whose value this
# one may not exceed.
NOT_NEGATIVE = {"minimum": "0"}
# "risk": "increases" — credit logic says more of it never makes a default less likely, so the
# model is trained monotone in it. "reason": how a decision's reasons name the value.
MORE_IS_RISKIER = {**NOT_NEGATIVE, "risk": "increases"}

# Latest credit report per person. TTL 365 days: a point-in-time join only uses a report from
# the year before the loan (reports arrive every 1-6 months; an older one is stale). Feast does
# not apply this TTL to online reads, so the API reports each value's age itself.
credit_history = FeatureView(
    name="credit_history",
    entities=[dob_ssn],
    ttl=timedelta(days=365),
    # Amounts and counts are never negative; missed payments in 6 months are some of those in
    # a year, which are some of those in two (the "at_most" tags).
    schema=[
        Field(
            name="credit_card_due",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} USD due on credit cards"},
        ),
        Field(
            name="mortgage_due",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} USD due on a mortgage"},
        ),
        Field(
            name="student_loan_due",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} USD due on student loans"},
        ),
        Field(
            name="vehicle_loan_due",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} USD due on vehicle loans"},
        ),
        Field(
            name="hard_pulls",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} hard credit inquiries"},
        ),
        Field(
            name="missed_payments_2y",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} missed payments in the last 2 years"},
        ),
        Field(
            name="missed_payments_1y",
            dtype=Int64,
            tags={
                **MORE_IS_RISKIER,
                "at_most": "missed_payments_2y",
                "reason": "{value} missed payments in the last 12 months",
            },
        ),
        Field(
            name="missed_payments_6m",
            dtype=Int64,
            tags={
                **MORE_IS_RISKIER,
                "at_most": "missed_payments_1y",
                "reason": "{value} missed payments in the last 6 months",
            },
        ),
        Field(
            name="bankruptcies",
            dtype=Int64,
            tags={**MORE_IS_RISKIER, "reason": "{value} bankruptcies on record"},
        ),
    ],
    source=credit_history_push,
    online=True,
    description="Credit report of a person (amounts due in USD, counts of events)",
)

# Offline history of zipcode statistics (census/tax data, updated rarely).
zipcode_features_table = PostgreSQLSource(
    name="zipcode_features_table",
    table="zipcode_features",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)

# Streamed zipcode updates enter the online store through this push source.
zipcode_features_push = PushSource(
    name="zipcode_features_push",
    batch_source=zipcode_features_table,
)

# Zipcode statistics. TTL ten years: they are yearly figures and the tutorial's own zipcode
# snapshot predates its loans by years; a shorter TTL would null them out of training.
# Serving: a view's "serving_max_age" tag says how old an online row the API may use ("none":
# any age, the value is flagged when older than the TTL; "<N>d"; without the tag: the TTL).
# Area statistics change slowly and a zipcode always has them, so an old row beats a refusal.
zipcode_features = FeatureView(
    name="zipcode_features",
    entities=[zipcode],
    ttl=timedelta(days=3650),
    tags={"serving_max_age": "none"},
    schema=[
        Field(name="city", dtype=String, tags={"reason": "living in {value}"}),
        Field(name="state", dtype=String, tags={"reason": "living in the state {value}"}),
        Field(name="location_type", dtype=String, tags={"reason": "a {value} zipcode"}),
        Field(
            name="tax_returns_filed",
            dtype=Int64,
            tags={**NOT_NEGATIVE, "reason": "{value} tax returns filed in the zipcode"},
        ),
        Field(
            name="population",
            dtype=Int64,
            tags={**NOT_NEGATIVE, "reason": "a zipcode of {value} people"},
        ),
        Field(
            name="total_wages",
            dtype=Int64,
            tags={**NOT_NEGATIVE, "reason": "{value} USD of wages in the zipcode"},
        ),
    ],
    source=zipcode_features_push,
    online=True,
    description="Statistics of a zipcode (tax returns, population, wages in USD)",
)

# What a loan application itself carries (not stored features): the API's request body and the
# person/loan columns of the training frame, beside the entity keys above.
# Tags, read by core.contract: a string field's "enum" lists its only values, comma-separated
# (the API's request schema and the history generator take them from here, in this order);
# "id_column" and "label_column" name the loan table's integer id and its label (1 = the loan
# defaulted), the columns around the application's fields in the loans and training tables.
loan_application = RequestSource(
    name="loan_application",
    # Bounds of plausibility: the API answers 422 outside them. Floats may be null in a request
    # (unknown; the tutorial's data has unknown employment lengths and rates).
    schema=[
        Field(
            name="person_age",
            dtype=Int64,
            description="Age in whole years",
            tags={"reason": "age {value}", "minimum": "18", "maximum": "120"},
        ),
        Field(
            name="person_income",
            dtype=Int64,
            description="Yearly income in USD",
            tags={
                "reason": "a yearly income of {value} USD",
                "minimum": "0",
                "maximum": "100000000",
            },
        ),
        Field(
            name="person_home_ownership",
            dtype=String,
            description="Housing situation",
            tags={"reason": "housing: {value}", "enum": "RENT,OWN,MORTGAGE,OTHER"},
        ),
        Field(
            name="person_emp_length",
            dtype=Float64,
            description="Years in employment (null: unknown)",
            tags={"reason": "{value} years in employment", "minimum": "0", "maximum": "80"},
        ),
        Field(
            name="loan_intent",
            dtype=String,
            description="Purpose of the loan",
            tags={
                "reason": "loan purpose: {value}",
                "enum": "PERSONAL,EDUCATION,MEDICAL,VENTURE,HOMEIMPROVEMENT,DEBTCONSOLIDATION",
            },
        ),
        Field(
            name="loan_amnt",
            dtype=Int64,
            description="Amount requested in USD",
            tags={
                "reason": "a loan of {value} USD",
                "exclusive_minimum": "0",
                "maximum": "10000000",
            },
        ),
        Field(
            name="loan_int_rate",
            dtype=Float64,
            description="Interest rate in % (null: unknown)",
            tags={"reason": "an interest rate of {value} %", "minimum": "0", "maximum": "100"},
        ),
    ],
    description="Fields of a loan application, as the tutorial sends them",
    tags={"id_column": "loan_id", "label_column": "loan_status"},
)

# Every feature the credit model reads; training and serving both resolve this service.
credit_scoring_v1 = FeatureService(
    name="credit_scoring_v1",
    features=[credit_history, zipcode_features],
    description="Features of the loan-default model",
)
