// MQTT.js (npm "mqtt") over WebSocket, driven by the xunit tests (tests/SensorNode.Broker.Tests/WebSockets).
//   node ws-client.mjs sub URL FILTER QOS COUNT [PROTOCOL_VERSION]   prints SUBSCRIBED, then one JSON line per message
//   node ws-client.mjs pub URL TOPIC QOS RETAIN PAYLOAD... [--v5]    publishes each payload in order, prints PUBLISHED n
// Exits 0 when done, 1 on any error (printed to stderr), 2 after 20 s.
import mqtt from "mqtt";

const [mode, url, topic, qosText, fourth, ...rest] = process.argv.slice(2);
const qos = Number(qosText);
const v5 = rest.includes("--v5") || (mode === "sub" && rest[0] === "5");
const timer = setTimeout(() => { console.error("timed out"); process.exit(2); }, 20000);

const client = mqtt.connect(url, {
  protocolVersion: v5 ? 5 : 4,
  clientId: `mqttjs-${mode}-${process.pid}`,
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: 10000,
});
client.on("error", (err) => { console.error(`error: ${err.message}`); process.exit(1); });
client.on("close", () => { if (!done) { console.error("connection closed"); process.exit(1); } });
let done = false;

function finish() {
  done = true;
  clearTimeout(timer);
  client.end(false, {}, () => process.exit(0));
}

client.on("connect", () => {
  if (mode === "sub") {
    const count = Number(fourth);
    let received = 0;
    client.on("message", (t, payload, packet) => {
      console.log(JSON.stringify({ topic: t, payload: payload.toString("utf8"), qos: packet.qos, retain: packet.retain }));
      if (++received >= count) finish();
    });
    client.subscribe(topic, { qos }, (err, granted) => {
      if (err) { console.error(`subscribe: ${err.message}`); process.exit(1); }
      console.log(`SUBSCRIBED ${granted.map((g) => g.qos).join(",")}`);
    });
  } else if (mode === "pub") {
    const retain = fourth === "true";
    const payloads = rest.filter((p) => p !== "--v5");
    let index = 0;
    const next = () => {
      if (index === payloads.length) { console.log(`PUBLISHED ${payloads.length}`); finish(); return; }
      client.publish(topic, payloads[index++], { qos, retain }, (err) => {
        if (err) { console.error(`publish: ${err.message}`); process.exit(1); }
        next();
      });
    };
    next();
  } else {
    console.error(`unknown mode ${mode}`);
    process.exit(1);
  }
});
