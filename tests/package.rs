//! What `scripts/package` built, checked as a jump host would use it: each binary asks for
//! nothing newer than glibc 2.17, the x86_64 one runs a real sync, the aarch64 one runs under
//! qemu-user, and the .deb installs the binary, the manual and the completions, then removes
//! cleanly. `scripts/test` builds the package and says where (SEQSYNC_TEST_DIST).

mod common;
use common::Pair;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dist() -> PathBuf {
    PathBuf::from(std::env::var("SEQSYNC_TEST_DIST").unwrap_or_else(|_| {
        panic!("SEQSYNC_TEST_DIST is not set: run the tests with scripts/test, which runs scripts/package")
    }))
}

/// The unpacked tarball's binary for `arch`.
fn binary(arch: &str) -> PathBuf {
    let folder = std::fs::read_dir(dist())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with(&format!("-{arch}-linux")))
        .unwrap_or_else(|| panic!("no {arch} folder in {}", dist().display()));
    folder.join("seqsync")
}

/// The highest `GLIBC_x.y` version a binary's dynamic symbols ask for.
fn highest_glibc(binary: &Path) -> (u32, u32) {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .unwrap();
    assert!(out.status.success(), "objdump -T {}", binary.display());
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("a dynamically linked binary names glibc versions")
}

#[test]
fn every_binary_needs_nothing_newer_than_glibc_2_17() {
    for arch in ["x86_64", "aarch64"] {
        let needed = highest_glibc(&binary(arch));
        assert!(
            needed <= (2, 17),
            "{arch}: needs GLIBC_{}.{}",
            needed.0,
            needed.1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_portable_x86_64_binary_runs_a_full_sync() {
    let pair = Pair::new("pkg_sync").await;
    pair.both("CREATE SEQUENCE shipped;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('shipped', 4200)")
        .await
        .unwrap();
    let mut args = pair.ad_hoc("sync", "100");
    args.extend(["--yes", "--format", "json"]);
    let out = isolated(Command::new(binary("x86_64")), &pair)
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let next: i64 = pair
        .destination()
        .await
        .query_one("SELECT nextval('shipped')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 4300);
    let version = Command::new(binary("x86_64"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains("x86_64-unknown-linux-gnu.2.17") && !version.contains("commit unknown"),
        "{version}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aarch64_binary_plans_under_qemu_user() {
    let pair = Pair::new("pkg_arm").await;
    pair.both("CREATE SEQUENCE arm;").await;
    let qemu = "qemu-aarch64-static";
    // Debian's libc6-arm64-cross: the aarch64 loader and glibc the binary links against.
    let sysroot = ["-L", "/usr/aarch64-linux-gnu"];
    let version = Command::new(qemu)
        .args(sysroot)
        .arg(binary("aarch64"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{qemu}: {e} (scripts/test installs qemu-user-static)"));
    let said = String::from_utf8_lossy(&version.stdout);
    assert!(said.contains("aarch64-unknown-linux-gnu.2.17"), "{said}");
    let mut args = pair.ad_hoc("plan", "10");
    args.extend(["--format", "json"]);
    let mut under_qemu = Command::new(qemu);
    under_qemu.args(sysroot).arg(binary("aarch64"));
    let out = isolated(under_qemu, &pair).args(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(common::row(&plan, "arm")["target"], 11, "{plan:#}");
}

#[test]
fn the_deb_installs_the_manual_and_completions_and_removes_cleanly() {
    let deb = std::fs::read_dir(dist())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_amd64.deb"))
        .expect("an amd64 .deb");
    // Installed into a scratch root with its own dpkg database, so the machine is untouched.
    let root = tempdir("deb-root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let out = Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-depends",
                "--force-not-root",
                "--force-script-chrootless",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dpkg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    dpkg(&["-i", deb.to_str().unwrap()]);
    for file in [
        "usr/bin/seqsync",
        "usr/share/man/man1/seqsync.1.gz",
        "usr/share/man/man1/seqsync-sync.1.gz",
        "usr/share/man/man1/seqsync-repair.1.gz",
        "usr/share/bash-completion/completions/seqsync",
        "usr/share/zsh/vendor-completions/_seqsync",
        "usr/share/fish/vendor_completions.d/seqsync.fish",
    ] {
        assert!(root.join(file).is_file(), "{file} installed");
    }
    let man = Command::new("man")
        .args(["-w", "seqsync"])
        .env("MANPATH", root.join("usr/share/man"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&man.stdout).contains("seqsync.1.gz"),
        "man -w seqsync: {}",
        String::from_utf8_lossy(&man.stderr)
    );
    let version = Command::new(root.join("usr/bin/seqsync"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("seqsync "));
    dpkg(&["-r", "seqsync"]);
    assert!(!root.join("usr/bin/seqsync").exists(), "removed");
    assert!(!root.join("usr/share/man/man1/seqsync.1.gz").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// `command`, kept from any user config and journaling into the test's folder.
fn isolated(mut command: Command, pair: &Pair) -> Command {
    command
        .current_dir(&pair.dir)
        .env_remove("SEQSYNC_CONFIG")
        .env("HOME", &pair.dir)
        .env("SEQSYNC_JOURNAL", pair.journal());
    command
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seqsync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
