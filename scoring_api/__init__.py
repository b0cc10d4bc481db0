"""Scoring API: loan applications in, approve/reject decisions out (FastAPI).

Layout: `main` (app factory + lifespan), `api/deps.py`, `api/routes/{loans,health}.py`,
`core/{config,errors,request_id}.py`, `schemas` (bodies; the request derived from the Feast
contract), `service/` (Feast store, online feature reader, served model, scorer, runtime),
`cli` (`serve`, `score`). Usage, the curl example and the error shape: docs/api.md.

    curl -s -X POST http://127.0.0.1:8000/v1/loan-decisions \\
      -H 'Content-Type: application/json' \\
      -d '{"zipcode": 76104, "dob_ssn": "19630621_4278", "person_age": 63,
           "person_income": 59000, "person_home_ownership": "RENT", "person_emp_length": 12.0,
           "loan_intent": "PERSONAL", "loan_amnt": 35000, "loan_int_rate": 16.02}'
"""
