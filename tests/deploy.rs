//! The deployment files say what the daemon needs: the Kubernetes manifests
//! (parsed, their key fields asserted against each other and against the
//! daemon's config format) and the systemd template unit for shards.

mod common;

use std::path::Path;

fn docs() -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/imagine-agent.yaml")).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).expect("each document is YAML")).collect()
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("a {kind}"))
}

#[test]
fn the_statefulset_runs_one_shard_per_pod_with_its_own_volume_probes_and_scrape() {
    let docs = docs();
    let config_text = find(&docs, "ConfigMap")["data"]["config.yaml"].as_str().unwrap().to_string();
    let config: imagine_agent::config::Config = serde_yaml::from_str(&config_text).expect("the config is the daemon's format");
    let shard = config.shard.clone().expect("sharded");
    let sts = find(&docs, "StatefulSet");
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(shard.count as u64), "replicas = shard.count");
    assert!(shard.index_from_hostname, "pod imagine-agent-N is shard N");
    assert_eq!(sts["metadata"]["name"].as_str(), Some("imagine-agent"), "pod names end in -N");
    let pod = &sts["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let mount_of =
        |name: &str| mounts.iter().find(|m| m["name"].as_str() == Some(name)).unwrap()["mountPath"].as_str().unwrap().to_string();
    // Sled on the pod's own claim, where the config says.
    let claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(Path::new(&mount_of(claim)), config.state_dir.as_deref().unwrap());
    // Credentials from the Secret, at the paths the config names.
    let secrets = mount_of("credentials");
    let secret = find(&docs, "Secret");
    for a in &config.agents {
        let file = a.credentials_file.as_deref().expect("a credentials file per agent");
        assert!(file.starts_with(&secrets), "{}", file.display());
        let key = file.file_name().unwrap().to_str().unwrap();
        assert!(secret["stringData"][key].as_str().unwrap().contains("IMAGINEANYTHING_CLIENT_SECRET="), "{key}");
    }
    // Probes and scraping on the daemon's /healthz and /metrics.
    let port = config.metrics_addr.expect("metrics_addr").port();
    let container_port =
        c["ports"].as_sequence().unwrap().iter().find(|p| p["name"].as_str() == Some("metrics")).unwrap()["containerPort"].as_u64();
    assert_eq!(container_port, Some(port as u64));
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some("/healthz"), "{probe}");
    }
    let ann = &pod["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(ann["prometheus.io/port"].as_str(), Some(port.to_string().as_str()));
    assert!(c["resources"]["requests"]["memory"].as_str().is_some() && c["resources"]["limits"]["memory"].as_str().is_some());
    assert_eq!(find(&docs, "Service")["spec"]["clusterIP"].as_str(), Some("None"), "headless, for stable pod names");
}

#[test]
fn the_template_unit_gives_each_instance_its_shard_and_its_own_state() {
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/imagine-agent@.service")).unwrap();
    assert!(unit.contains("Environment=IMAGINE_AGENT_SHARD_INDEX=%i"));
    assert!(unit.contains("StateDirectory=imagine-agent/%i"));
    assert!(unit.contains("Type=notify"));
    let Ok(out) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        assert!(std::env::var_os("CI").is_none(), "systemd-analyze is missing under CI");
        common::skipped("the_template_unit_verified_by_systemd", "systemd-analyze is not installed here (CI installs it)");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, "IMAGINEANYTHING_CLIENT_ID=x\n").unwrap();
    let unit = unit
        .replace("/usr/local/bin/imagine-agent", env!("CARGO_BIN_EXE_imagine-agent"))
        .replace("/etc/imagine-agent/credentials", &creds.display().to_string());
    std::fs::write(dir.path().join("imagine-agent@.service"), &unit).unwrap();
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(dir.path().join("imagine-agent@.service")).output().unwrap();
    // A template is verified through an instance.
    let inst = dir.path().join("imagine-agent@2.service");
    std::os::unix::fs::symlink(dir.path().join("imagine-agent@.service"), &inst).unwrap();
    let out2 = std::process::Command::new("systemd-analyze").arg("verify").arg(&inst).output().unwrap();
    assert!(
        out2.status.success() && out2.stderr.is_empty(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out2.stderr)
    );
}
