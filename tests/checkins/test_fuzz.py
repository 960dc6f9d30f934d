"""Property-based: malformed JSON thrown at POST /api/check-ins never gives a 5xx and never stores a row."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn
from tests import factories
from tests.checkins.helpers import body, people

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
not_int = (
    st.none()
    | st.booleans()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
)
BAD = {
    "safe": st.integers().filter(lambda n: not 0 <= n <= 10) | not_int,
    "heard": st.integers(min_value=11) | not_int,
    "understood": st.integers(max_value=-1) | not_int,
    "phase": st.text().filter(lambda s: s not in ("before", "after")) | json_values,
    "visibility": st.text().filter(lambda s: s not in ("named", "anonymous")) | st.integers(),
    "idempotency_key": st.text(max_size=7) | st.text(min_size=65) | st.integers() | st.none(),
    "comment": st.text(min_size=1001, max_size=1100)
    | st.integers()
    | st.lists(st.text(), min_size=1),
    "created_at": st.text(max_size=30)
    | st.integers()
    | st.none()
    | st.datetimes().map(lambda d: d.isoformat()),  # naive: refused
    "appointment_id": st.integers(max_value=0) | st.text() | st.floats() | st.booleans(),
}
one_bad_field = st.sampled_from(sorted(BAD)).flatmap(lambda k: st.tuples(st.just(k), BAD[k]))
payloads = (
    one_bad_field.map(lambda kv: ("field", kv))
    | st.sampled_from(sorted(BAD)).map(lambda k: ("missing", k))
    | json_values.map(lambda v: ("whole", v))
    | st.binary(max_size=200).map(lambda b: ("raw", b))
)


@pytest.fixture
def fuzz_client(ctx, client):
    _, _, me = people()
    factories.sign_in(client, me)
    return client


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=payloads)
def test_malformed_bodies_never_5xx_never_a_row(fuzz_client, payload):
    kind, value = payload
    if kind == "field":
        data = json.dumps({**body(), value[0]: value[1]})
    elif kind == "missing":
        valid = body()
        if value in ("comment", "visibility", "appointment_id"):
            valid[value] = [valid[value]]  # optional fields: make them wrong instead of absent
        else:
            del valid[value]
        data = json.dumps(valid)
    elif kind == "whole":
        data = json.dumps(value)
    else:
        data = value
    res = fuzz_client.post("/api/check-ins", data=data, content_type="application/json")
    assert 400 <= res.status_code < 500, (res.status_code, res.get_data(as_text=True))
    assert res.is_json and res.json.get("error")
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0
