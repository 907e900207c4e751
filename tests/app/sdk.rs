//! Zenduty's own Python SDK (`zenduty-api` 1.0.0, from PyPI) drives a running Klaxon.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{
    add_user, create_api_key, for_each_backend, username_by_email, USER_PASSWORD,
};

const SDK: &str = "zenduty-api==1.0.0";

/// A virtual environment with the SDK, made once per target folder. `None` (with the reason
/// printed) when it cannot be had here; under CI that is a failure instead.
fn sdk_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zenduty-sdk-venv");
    let python = venv.join("bin/python");
    let importable = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import zenduty.apiV2"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !importable(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", SDK])
                .status()
                .is_ok_and(|s| s.success());
        if !made || !importable(&python) {
            let reason = format!("could not install {SDK} into a Python virtual environment (python3 and PyPI are needed)");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{reason}");
            }
            eprintln!("SKIPPED sdk test: {reason}");
            return None;
        }
    }
    Some(python)
}

#[tokio::test]
async fn zendutys_python_sdk_drives_klaxon() {
    let Some(python) = sdk_python() else { return };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/zenduty_sdk_check.py");
    for_each_backend(|app| {
        let (python, script) = (python.clone(), script.clone());
        async move {
            app.create_owner().await;
            let key = create_api_key(&app, "Python SDK").await;
            let added = add_user(
                &app,
                ("Grace", "Hopper"),
                "grace@example.com",
                USER_PASSWORD,
                "3",
            )
            .await;
            assert_eq!(added.status(), reqwest::StatusCode::SEE_OTHER);
            let other = username_by_email(&app, "grace@example.com").await;
            let (url, python, script) = (app.address.clone(), python.clone(), script.clone());
            // Blocking on the child is fine on the blocking pool; the server keeps serving.
            let output = tokio::task::spawn_blocking(move || {
                Command::new(&python)
                    .arg(&script)
                    .env("KLAXON_URL", url)
                    .env("KLAXON_API_KEY", key)
                    .env("KLAXON_OTHER_USERNAME", other)
                    .output()
            })
            .await
            .unwrap()
            .expect("run python");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success() && stdout.contains("sdk ok"),
                "the SDK run failed:\n{stdout}\n{stderr}"
            );
        }
    })
    .await;
}
