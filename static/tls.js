// 设备证书 (/tls): does this device trust the shop's certificate authority? Opened over plain
// HTTP, the page asks the HTTPS port: the request succeeds only if the TLS handshake does
// (no-cors: any answer will do), and fails at once on a certificate the device does not trust.
(() => {
  const box = document.getElementById("trust-status");
  if (!box || !box.dataset.probe) return;
  const show = (result) => {
    for (const line of box.querySelectorAll("[data-state]")) {
      line.hidden = line.dataset.state !== result;
    }
    box.dataset.result = result;
  };
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 5000);
  fetch(box.dataset.probe, { mode: "no-cors", cache: "no-store", signal: stop.signal }).then(
    () => show("trusted"),
    () => show("untrusted"),
  );
})();
