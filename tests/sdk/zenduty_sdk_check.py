"""Drives a running Klaxon with Zenduty's own Python SDK (zenduty-api 1.0.0).

Run by the Rust test `sdk::zendutys_python_sdk_drives_klaxon` with KLAXON_URL and KLAXON_API_KEY
set. Prints "sdk ok" when every step worked; any failure raises.
"""
import os
import uuid
from datetime import datetime, timedelta, timezone

from zenduty.apiV2.authentication.zenduty_credential import ZendutyCredential
from zenduty.apiV2.client import ZendutyClient
from zenduty.apiV2.events import EventClient
from zenduty.apiV2.incidents import IncidentClient
from zenduty.apiV2.teams import TeamsClient
from zenduty.apiV2.teams.escalation_policies.rules import RuleBuilder
from zenduty.apiV2.teams.schedules.layers import LayersBuilder
from zenduty.apiV2.teams.schedules.overrides import OverrideBuilder

API_APPLICATION = uuid.UUID("aa1dbb12-9901-4369-a384-017d5e5d5b89")

client = ZendutyClient(credential=ZendutyCredential(os.environ["KLAXON_API_KEY"]), base_url="klaxon.test", use_https=False)
# The SDK's base_url cannot carry a port; the test server listens on a random one.
client._url = os.environ["KLAXON_URL"]

teams = TeamsClient(client)
team = teams.create_team("SDK team")
assert any(t.unique_id == team.unique_id for t in teams.list_teams())
assert teams.find_team_by_id(team.unique_id).name == "SDK team"

policies = teams.get_escalation_policy_client(team)
default_policy = policies.get_all_policies()[0]
assert default_policy.name == "Default"

services = teams.get_service_client(team)
service = services.create_service(
    name="SDK service", escalation_policy=default_policy.unique_id, sla=uuid.uuid4(), team_priority=uuid.uuid4()
)
assert services.get_service_by_id(service.unique_id).name == "SDK service"
assert len(services.get_all_services()) == 1

# A policy with two levels, as the SDK's RuleBuilder writes them, and who is on call now.
me = default_policy.rules[0]["targets"][0]["target_id"]
rules = (
    RuleBuilder()
    .add_rule(timedelta(minutes=0), 0, [{"target_type": 2, "target_id": me}])
    .add_rule(timedelta(minutes=10), 1, [{"target_type": 2, "target_id": me}])
    .build()
)
policy = policies.create_esp("SDK policy", rules, summary="two levels")
assert [rule["position"] for rule in policies.get_esp_by_id(policy.unique_id).rules] == [0, 1]
on_call = teams.get_all_oncall(team)
assert {str(o.escalation_policy.unique_id) for o in on_call} == {str(default_policy.unique_id), str(policy.unique_id)}
assert all([u.username for u in o.users] == [me] for o in on_call)

# The service pages through the new policy: the SDK's update sends the whole service back, with
# the required fields as the service it read has them.
attached = services.update_service(
    service, name=service.name, escalation_policy=policy.unique_id, sla=service.sla,
    team_priority=service.team_priority,
)
assert str(attached.escalation_policy) == str(policy.unique_id), attached.escalation_policy
reread = services.get_service_by_id(service.unique_id)
assert str(reread.escalation_policy) == str(policy.unique_id), reread.escalation_policy
assert reread.name == "SDK service" and str(reread.escalation_policy) != str(default_policy.unique_id)
on_call = {str(o.escalation_policy.unique_id): o for o in teams.get_all_oncall(team)}
assert [u.username for u in on_call[str(reread.escalation_policy)].users] == [me], on_call
assert on_call[str(reread.escalation_policy)].escalation_policy.name == "SDK policy"

integrations = services.get_integration_client(service)
integration = integrations.create_intg(name="SDK alerts", summary="from the SDK", application=API_APPLICATION)
assert [i.unique_id for i in integrations.get_all_integrations()] == [integration.unique_id]

events = EventClient(client)
key = str(integration.integration_key)
first = events.create_event(summary="sdb1", message="Disk full", alert_type="critical", integration_key=key, entity_id="disk-1")
assert first.incident is not None
events.create_event(summary="sdb1", message="On it", alert_type="acknowledged", integration_key=key, entity_id="disk-1")
events.create_event(summary="sdb1", message="Freed space", alert_type="resolved", integration_key=key, entity_id="disk-1")

incidents = IncidentClient(client)
resolved = incidents.get_incident_by_unique_id_or_incident_number(first.incident)
assert resolved.status == 3, resolved.status
assert len(incidents.get_alerts_for_incident(first.incident)) == 3

created = incidents.create_incident(title="From the SDK", service=service.unique_id)
assert incidents.get_incident_by_unique_id_or_incident_number(created.unique_id).incident_number == created.incident_number
updated = incidents.update_incident(created.incident_number, service=service.unique_id, status=2)
assert updated.status == 2
acknowledged = incidents.get_all_incidents(status=2)
assert any(i["incident_number"] == created.incident_number for i in acknowledged)

notes = incidents.get_note_client(updated)
notes.create_incident_note("Written by the SDK")
assert [n.note for n in notes.get_all_incident_notes()] == ["Written by the SDK"]

# Schedules: a daily layer from 09:00 in Berlin (a naive time, read in the schedule's zone), an
# override, renaming (the SDK sends back what it read), deleting.
member = teams.find_team_by_id(team.unique_id).members[0]
me = member["user"]["username"] if isinstance(member, dict) else member.user.username
schedules = teams.get_schedule_client(team)
layers = LayersBuilder().add_layer(
    name="Days", users=[me], restrictions=[], rotation_start_time=datetime(2026, 1, 5, 9, 0),
    rotation_end_time=datetime(2036, 1, 5, 9, 0), shift_length=timedelta(days=1),
    restriction_type=0, timezone="Europe/Berlin",
).build()
soon = datetime.now(timezone.utc) + timedelta(days=30)
overrides = OverrideBuilder().add_override(
    name="Cover", user=me, start_time=soon, end_time=soon + timedelta(days=1)
).build()
schedule = schedules.create_schedule(
    name="SDK rota", timezone="Europe/Berlin", description="from the SDK", summary="rota",
    layers=layers, overrides=overrides,
)
layer = schedule.layers[0]
assert layer["rotation_start_time"] == "2026-01-05T08:00:00.000000Z", layer
assert layer["shift_length"] == 86400 and layer["users"][0]["user"] == me, layer
assert schedule.overrides[0]["user"] == me, schedule.overrides
assert [s.unique_id for s in schedules.get_all_schedules()] == [schedule.unique_id]
renamed = schedules.update_schedule(schedule, name="SDK rota 2")
assert renamed.name == "SDK rota 2"
assert renamed.layers[0]["unique_id"] == layer["unique_id"]
assert len(renamed.overrides) == 1
assert schedules.get_schedule_by_id(schedule.unique_id).name == "SDK rota 2"
schedules.delete_schedule(renamed)
assert schedules.get_all_schedules() == []

# Team members, as TeamsClient manages them: add by username, make a manager, list, remove.
other = os.environ["KLAXON_OTHER_USERNAME"]
added = teams.add_team_member(team, other)
assert added.role == 2 and added.user.username == other, added
promoted = teams.update_team_member(team, added.unique_id, role=1)
assert promoted.role == 1 and promoted.unique_id == added.unique_id
assert {m.user.username for m in teams.list_team_members(team)} == {me, other}
assert teams.find_team_member(team, str(added.unique_id)).user.username == other
teams.delete_team_member(team, added.unique_id)
assert [m.user.username for m in teams.list_team_members(team)] == [me]

print("sdk ok")
