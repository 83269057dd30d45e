from hypothesis import HealthCheck, given, settings, strategies as st
from tests.actatek.conftest import Api

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=10))
async def test_h(api: Api, q: str) -> None:
    status, body = await api.call("GET", "apiversion")
    assert status == 200
