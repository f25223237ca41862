"""MQTT publishing against a real mosquitto: run summaries, an unreachable broker, a restart."""

import json

import pytest

from broker import Subscriber, free_port
from conftest import run_cli, scenario_dict, write_scenario
from heiti.errors import InputError, RunFailed
from heiti.publish.mqtt import MqttPublisher, MqttUrl


def test_run_publishes_its_measurements_summary(workdir, broker):
    subscriber = Subscriber(broker, "heiti/runs")
    data = scenario_dict(report={"enabled": False, "publish": broker.url("heiti/runs")})
    assert run_cli("run", write_scenario(workdir, data)) == 0
    (topic, summary), = subscriber.wait_for(1)
    subscriber.close()
    written = json.loads((workdir / "build" / "measurements.json").read_text())
    assert topic == "heiti/runs"
    assert summary["schema"] == "heiti/run-summary/1" and summary["name"] == "t"
    assert summary["primary_metric"] == "accuracy"
    assert summary["primary"] == written["quality"]["metrics"]["accuracy"]
    assert summary["latency_ms"]["p50"] == written["performance"]["latency_ms"]["p50"]
    assert summary["runtime"] == "onnxruntime" and summary["samples"] == 60


def test_an_unreachable_broker_fails_the_run_after_writing_measurements(workdir, capsys):
    port = free_port()  # nothing listens here
    data = scenario_dict(report={"enabled": False, "publish": f"mqtt://127.0.0.1:{port}/heiti/runs"})
    assert run_cli("run", write_scenario(workdir, data)) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in err
    assert "hint: start the broker" in err
    assert (workdir / "build" / "measurements.json").is_file()


def test_a_bad_publish_address_is_bad_input(tmp_path, capsys):
    data = scenario_dict(report={"publish": "http://example.org/x"})
    assert run_cli("test", write_scenario(tmp_path, data)) == 2
    assert "report.publish: String should match pattern" in capsys.readouterr().err
    with pytest.raises(Exception, match="not an MQTT address"):
        MqttUrl.parse("mqtt://host:1883/")


def test_no_message_is_lost_when_the_broker_restarts(broker):
    subscriber = Subscriber(broker, "heiti/count")
    publisher = MqttPublisher(broker.url("heiti/count"), drain_timeout_s=20).open()
    for i in range(20):
        publisher.publish({"i": i})
    broker.stop()
    for i in range(20, 40):  # queued while the broker is away
        publisher.publish({"i": i})
    broker.start()
    for i in range(40, 50):
        publisher.publish({"i": i})
    publisher.close()
    messages = subscriber.wait_for(50, key=lambda message: message[1]["i"])
    received = sorted({payload["i"] for _, payload in messages})
    subscriber.close()
    assert received == list(range(50))
    assert publisher.reconnects >= 1


def test_messages_the_broker_never_takes_are_reported(broker):
    publisher = MqttPublisher(broker.url("heiti/x"), drain_timeout_s=1.5).open()
    broker.stop()
    publisher.publish({"i": 1})
    with pytest.raises(RunFailed, match="1 of 1 messages to mqtt://127.0.0.1:.* were not acknowledged"):
        publisher.close()


@pytest.fixture
def locked_broker(tmp_path):
    """A mosquitto that refuses anonymous clients and knows one user (password file)."""
    from broker import MOSQUITTO, MOSQUITTO_PASSWD, Broker

    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
    (tmp_path / "locked").mkdir()
    running = Broker(tmp_path / "locked", users={"heiti": PASSWORD})
    running.start()
    yield running
    running.stop()


PASSWORD = "p@ss:w/rd secret"
ENCODED = "p%40ss%3Aw%2Frd%20secret"  # percent-encoded, as a URL carries it


def test_credentials_in_the_url_reach_the_broker_and_no_file_or_message(workdir, locked_broker,
                                                                        capsys):
    subscriber = Subscriber(locked_broker, "heiti/runs", user=("heiti", PASSWORD))
    url = f"mqtt://heiti:{ENCODED}@127.0.0.1:{locked_broker.port}/heiti/runs"
    data = scenario_dict(report={"enabled": False, "publish": url})
    assert run_cli("run", write_scenario(workdir, data)) == 0
    (_, summary), = subscriber.wait_for(1)
    subscriber.close()
    assert summary["name"] == "t"
    written = (workdir / "build" / "measurements.json").read_text()
    assert "secret" not in written and ENCODED not in written
    assert json.loads(written)["scenario"]["report"]["publish"].startswith("mqtt://heiti:***@127.0.0.1:")
    assert "secret" not in "".join(capsys.readouterr())


def test_credentials_from_the_environment_and_refusals_that_name_no_password(locked_broker,
                                                                            monkeypatch):
    url = locked_broker.url("heiti/x")
    with pytest.raises(RunFailed, match=r"did not accept the connection \(no user name given\): "
                                        r"Not authorized") as refused:
        MqttPublisher(url).open()
    assert "HEITI_MQTT_PASSWORD" in refused.value.hint
    wrong = url.replace("mqtt://", "mqtt://heiti:wrong-secret@")
    with pytest.raises(RunFailed, match="as user 'heiti' with a password") as refused:
        MqttPublisher(wrong).open()
    assert "wrong-secret" not in str(refused.value)
    monkeypatch.setenv("HEITI_MQTT_USERNAME", "heiti")
    monkeypatch.setenv("HEITI_MQTT_PASSWORD", PASSWORD)
    with MqttPublisher(url) as publisher:
        publisher.publish({"i": 1})
    assert publisher.unacknowledged == 0 and "secret" not in repr(publisher.url) + str(publisher.url)
    monkeypatch.delenv("HEITI_MQTT_USERNAME")
    with pytest.raises(InputError, match="a password without a user name"):
        MqttUrl.parse(url)


def test_a_malformed_url_with_a_password_is_named_without_it():
    with pytest.raises(InputError, match=r"'mqtt://heiti:\*\*\*@host:99999/t' is not an MQTT address"):
        MqttUrl.parse("mqtt://heiti:hunter2@host:99999/t")
