//! Runs `deploy/argocd/health.lua` (Argo CD's health check for SsoConnection) with Lua 5.1,
//! as Argo CD does, over an object given as JSON. Shared by `tests/gitops.rs` (fixtures) and
//! the end-to-end suite (statuses the operator really wrote).

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const SCRIPT: &str = "deploy/argocd/health.lua";
const LUA: &str = "lua5.1";

// ---------------------------------------------------------------------------------------------
// JSON → Lua

/// A Lua 5.1 string literal holding exactly the bytes of `s` (Lua strings are 8-bit clean, so
/// UTF-8 passes through; decimal escapes always have three digits, so a digit after one is not
/// read as part of it).
pub fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Lua table constructor (or scalar) with the value of `v`, as Argo CD hands objects to
/// health scripts: objects become tables with string keys, arrays 1-based sequences, null nil.
pub fn lua_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Runs the health script with `obj` set to the object; returns `(hs.status, hs.message)`.
pub fn health(obj: &Value) -> (String, String) {
    let driver = format!(
        "obj = {}\nlocal hs = dofile({})\nio.write(type(hs), \"\\0\", tostring(hs.status), \"\\0\", tostring(hs.message))\n",
        lua_value(obj),
        lua_string(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(SCRIPT)
                .display()
                .to_string()
        ),
    );
    let mut child = match Command::new(LUA)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{LUA} is not installed, and the Argo CD health check cannot be tested without it: \
             apt-get install -y lua5.1 (scripts/install-testenv.sh)"
        ),
        Err(e) => panic!("cannot run {LUA}: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(driver.as_bytes())
        .expect("the driver is written to lua");
    let out = child.wait_with_output().expect("lua runs");
    assert!(
        out.status.success(),
        "{LUA} failed on {SCRIPT}: {}\n--- driver ---\n{driver}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let parts: Vec<&str> = text.split('\0').collect();
    assert_eq!(parts.len(), 3, "unexpected driver output {text:?}");
    assert_eq!(parts[0], "table", "the script must return the hs table");
    assert!(
        [
            "Healthy",
            "Progressing",
            "Degraded",
            "Suspended",
            "Missing",
            "Unknown"
        ]
        .contains(&parts[1]),
        "hs.status {:?} is not an Argo CD health status",
        parts[1]
    );
    (parts[1].to_string(), parts[2].to_string())
}
