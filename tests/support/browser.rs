//! Headless Chromium driven over the DevTools protocol, to test the HTML report as a person sees
//! it: after CSS and script ran, at a given window size.
//!
//! Chromium is launched with `--remote-debugging-port=0`; the WebSocket address it prints on
//! standard error is read line by line (no waiting on a clock). Every read from the socket has a
//! generous time limit so that a stuck browser fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Where `scripts/test` installs Chromium (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A safety net against a browser that stopped answering, not a timing assertion.
const READ_LIMIT: Duration = Duration::from_secs(120);

pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with one blank page of `width` × `height` CSS pixels.
    pub fn launch(width: u32, height: u32) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/test, which installs Chromium"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}; run scripts/test"));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        let mut seen = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(at) = line.find("ws://") {
                endpoint = Some(line[at..].trim().to_string());
                break;
            }
            seen.push_str(&line);
            line.clear();
        }
        let endpoint = endpoint.unwrap_or_else(|| {
            panic!("Chromium exited without a DevTools address; it said:\n{seen}")
        });
        // Keep draining its log so a full pipe never blocks the browser.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr.into_inner(), &mut std::io::sink());
        });
        let (socket, _) = tungstenite::connect(endpoint.as_str()).unwrap();
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
        }
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        browser.page("Page.enable", json!({}));
        browser
    }

    /// Loads a file and returns once its load event fired.
    pub fn open(&mut self, file: &Path) {
        let url = format!("file://{}", file.canonicalize().unwrap().display());
        self.page("Page.navigate", json!({"url": url}));
        self.wait_for_event("Page.loadEventFired");
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let reply = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            reply.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            reply["exceptionDetails"]
        );
        reply["result"]["value"].clone()
    }

    /// The viewport as PNG bytes.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// A command to the page.
    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// A command to the browser.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        loop {
            let reply = self.read();
            if reply["id"] == json!(id) {
                assert!(
                    reply.get("error").is_none(),
                    "{method} failed: {}",
                    reply["error"]
                );
                return reply["result"].clone();
            }
        }
    }

    fn wait_for_event(&mut self, method: &str) {
        while self.read()["method"] != json!(method) {}
    }

    fn read(&mut self) -> Value {
        loop {
            let message = self
                .socket
                .read()
                .unwrap_or_else(|e| panic!("no answer from Chromium: {e}"));
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Width and height of a PNG, from its header.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "not a PNG");
    let mut header = &png[16..24];
    let mut word = [0u8; 4];
    header.read_exact(&mut word).unwrap();
    let width = u32::from_be_bytes(word);
    header.read_exact(&mut word).unwrap();
    (width, u32::from_be_bytes(word))
}
