//! Build script: stamps the git revision into `alarmhub --version` and compiles the gRPC
//! protos with protox (no system protoc needed).
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ALARMHUB_GIT_REV={rev}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs");
    println!("cargo:rerun-if-changed=proto");

    let files = [
        "proto/alarm_server.proto",
        "proto/alarmhub/v1/alarmhub.proto",
        "proto/alarmhub/v1/alarms.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out.join("descriptor.bin"))
        .skip_protoc_run()
        .compile_fds(fds)?;
    Ok(())
}
