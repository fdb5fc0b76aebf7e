"""The judge itself (issue 24, section 2): it must fail what Graph would not send or answer."""

from __future__ import annotations

from tests.graph.sdk_judge import judge_collection, judge_envelope, judge_error, judge_request, judge_response

U = "0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0001"


def test_requests_graph_has_pass() -> None:
    assert judge_request("GET", "v1.0", f"/users/{U}/authentication/methods", ["$select"]).ok
    assert judge_request("GET", "beta", f"/users/{U}/authentication/signInPreferences", []).ok
    assert judge_request("DELETE", "v1.0", f"/users/{U}/authentication/externalAuthenticationMethods/{U}/$ref", []).ok
    assert judge_request("POST", "v1.0", "/$batch", []).ok


def test_requests_graph_has_not_fail_with_the_reason() -> None:
    made_up = judge_request("GET", "v1.0", f"/users/{U}/authentication/madeUpMethods", [])
    assert not made_up.ok and "no request builder" in made_up.why
    beta_only = judge_request("GET", "v1.0", f"/users/{U}/authentication/signInPreferences", [])
    assert not beta_only.ok and "beta SDK has it" in beta_only.why
    wrong_verb = judge_request("PUT", "v1.0", f"/users/{U}/revokeSignInSessions", [])
    assert not wrong_verb.ok and "offers" in wrong_verb.why
    bad_option = judge_request("POST", "v1.0", f"/users/{U}/revokeSignInSessions", ["$top"])
    assert not bad_option.ok and "$top" in bad_option.why


def test_answers_are_parsed_by_the_sdks_models() -> None:
    good = {"value": [{"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "1",
                       "phoneNumber": "+1 5550100", "phoneType": "mobile", "smsSignInState": "notAllowedByPolicy"}]}
    assert judge_response("GET", "v1.0", f"/users/{U}/authentication/methods", good) == []
    unknown = {"value": [{**good["value"][0], "favouriteColour": "blue"}]}
    assert any("favouriteColour" in p for p in judge_response("GET", "v1.0", f"/users/{U}/authentication/methods",
                                                              unknown))
    lost = {"value": [{**good["value"][0], "phoneType": "satellite"}]}
    assert any("lost in parsing" in p for p in judge_response("GET", "v1.0", f"/users/{U}/authentication/methods",
                                                              lost))


def test_errors_envelopes_and_pages_have_their_documented_shapes() -> None:
    good = {"error": {"code": "Request_ResourceNotFound", "message": "x", "innerError": {"request-id": "r"}}}
    assert judge_error(good, "w") == []
    assert judge_error({"error": {"code": "x", "message": "y"}}, "w")  # no innerError
    assert judge_error({"message": "y"}, "w")
    assert judge_envelope({"responses": [{"id": "1", "status": 200, "headers": {"a": "b"}}]}, "w") == []
    assert judge_envelope({"responses": [{"id": 1, "status": "200"}]}, "w")
    assert judge_collection({"value": [], "@odata.nextLink": "/v1.0/users?$skiptoken=1"}, "w")
    assert judge_collection({"value": [], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?x=1"}, "w") == []
