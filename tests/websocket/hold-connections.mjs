// Opens N MQTT.js connections (each subscribed to its own topic) and holds them until killed; prints CONNECTED N.
// Used by deploy/measure-memory.sh:  node hold-connections.mjs mqtt://127.0.0.1:1883 1000
import mqtt from "mqtt";

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
let connected = 0;
for (let i = 0; i < count; i++) {
  const client = mqtt.connect(url, { clientId: `hold-${process.pid}-${i}`, clean: true, reconnectPeriod: 0, keepalive: 60 });
  client.on("error", (err) => { console.error(`client ${i}: ${err.message}`); process.exit(1); });
  client.on("connect", () => {
    client.subscribe(`sensor/temperature/room${i}`, { qos: 1 }, () => {
      if (++connected === count) console.log(`CONNECTED ${count}`);
    });
  });
}
setInterval(() => {}, 1 << 30);
