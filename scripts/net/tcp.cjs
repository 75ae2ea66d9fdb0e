// Small TCP measurements between testbed hosts, run there by the tests and benches (`node -e`, over SSH:
// it needs nothing but node). User level, like an application: it sees a delay applied on arrival, which
// plain `ping` (the kernel's receive timestamp) does not.
//   node tcp.cjs receive HOST PORT SECONDS  one connection's bytes, printed as {"bytes", "ms"} (first to
//                                           last byte); gives up SECONDS + 10 s after starting
//   node tcp.cjs send HOST PORT SECONDS     sends as fast as TCP allows for SECONDS, then closes
//   node tcp.cjs echo HOST PORT SECONDS     echoes one connection; exits when it closes, or after SECONDS
//   node tcp.cjs ping HOST PORT COUNT       COUNT round trips of one byte to an echo, printed in ms as JSON
const net = require('node:net');
const [mode, host, port, arg] = process.argv.slice(-4);
const n = Number(arg);

/** Connects, retrying for 5 s (the other end may still be starting). */
function connect(onConnect, left = 50) {
  const s = net.connect(Number(port), host);
  s.on('error', () => {
    if (left > 0) setTimeout(() => connect(onConnect, left - 1), 100);
    else process.exit(1);
  });
  s.on('connect', () => onConnect(s));
}

if (mode === 'receive') {
  let bytes = 0;
  let first = 0;
  let last = 0;
  const report = (extra) => {
    console.log(JSON.stringify({ bytes, ms: last - first, ...extra }));
    process.exit(0);
  };
  net
    .createServer((s) => {
      s.on('data', (d) => {
        const now = performance.now();
        if (!first) first = now;
        last = now;
        bytes += d.length;
      });
      s.on('end', () => report({}));
    })
    .listen(Number(port), host, () => console.error('listening'));
  setTimeout(() => report({ timeout: true }), n * 1000 + 10000);
} else if (mode === 'send') {
  const chunk = Buffer.alloc(64 * 1024, 7);
  connect((s) => {
    const end = Date.now() + n * 1000;
    const pump = () => {
      while (Date.now() < end) if (!s.write(chunk)) return s.once('drain', pump);
      s.end();
    };
    pump();
  });
} else if (mode === 'echo') {
  net
    .createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d) => s.write(d));
      s.on('close', () => process.exit(0));
    })
    .listen(Number(port), host, () => console.error('listening'));
  setTimeout(() => process.exit(0), n * 1000);
} else if (mode === 'ping') {
  connect((s) => {
    s.setNoDelay(true);
    const rtts = [];
    let t = 0;
    const ping = () => {
      t = performance.now();
      s.write('x');
    };
    s.on('data', () => {
      rtts.push(performance.now() - t);
      if (rtts.length < n) ping();
      else {
        console.log(JSON.stringify(rtts));
        s.end();
      }
    });
    ping();
  });
} else {
  console.error(`usage: node tcp.cjs receive|send|echo|ping HOST PORT N (got ${mode})`);
  process.exit(2);
}
