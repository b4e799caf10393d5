//! Shell completions and manual pages come from the same clap definitions as the parser: every
//! subcommand and option a user can type is in them.

use std::process::Command;

fn seqsync(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .args(args)
        .output()
        .expect("running seqsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SUBCOMMANDS: &[&str] = &["instances", "plan", "sync", "undo", "recover", "check"];

#[test]
fn completions_name_every_subcommand_and_option() {
    for (shell, opening) in [
        ("bash", "_seqsync()"),
        ("zsh", "#compdef seqsync"),
        ("fish", "complete -c seqsync"),
    ] {
        let (code, script, stderr) = seqsync(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.contains(opening), "{shell}");
        for word in SUBCOMMANDS
            .iter()
            .chain(&["offset", "allow-lower", "scan-unindexed"])
        {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let (code, _, stderr) = seqsync(&["completions", "cmd.exe"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("possible values: bash"), "{stderr}");
}

#[test]
fn manual_pages_cover_the_tool_and_each_subcommand() {
    let (code, page, _) = seqsync(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH seqsync 1"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("seqsync\\-{sub}(1)")),
            "{sub} listed"
        );
    }
    let (code, page, _) = seqsync(&["man", "sync"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH seqsync-sync 1"), "{page}");
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    assert!(page.contains("\\-\\-allow\\-lower"), "{page}");
    assert!(page.contains("\\-\\-yes"), "{page}");
    let (code, _, stderr) = seqsync(&["man", "nosuch"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no subcommand nosuch"), "{stderr}");
}

/// A jump host has the binary, not the source tree: the example config comes from the binary,
/// and the message for a missing config points there, never into the tree.
#[test]
fn the_example_config_comes_from_the_binary_and_no_message_points_into_the_tree() {
    let (code, out, _) = seqsync(&["example-config"]);
    assert_eq!(code, 0);
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/seqsync.example.toml"),
    )
    .unwrap();
    assert_eq!(out, shipped, "byte for byte the tested example");
    let empty = std::env::temp_dir().join(format!("seqsync-noconfig-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .args(["instances"])
        .current_dir(&empty)
        .env("HOME", &empty)
        .env("XDG_CONFIG_HOME", empty.join("config"))
        .env_remove("SEQSYNC_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("seqsync example-config > seqsync.toml")
            && !stderr.contains("scripts/")
            && !stderr.contains("assets/"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&empty);
}
