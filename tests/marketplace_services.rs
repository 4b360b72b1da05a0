//! The marketplace's services as desired state over their whole life: every
//! field reconciled; a service removed from the file, or marked `retire`,
//! taken off the platform (deactivated while it has an open order, deleted
//! once it has none); and a generation's model and voice checked against
//! the platform's lists before the behavior starts.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxHandle;
use imagine_agent::wire::types::{OrderAction, PaymentMethod};

/// (key tag, active, title, short description, delivery days, revisions, category, tags) of the agent's services.
type Listing = (String, bool, String, Option<String>, u32, u32, Option<String>, Vec<String>);

fn listings(sb: &SandboxHandle, id: &str) -> Vec<Listing> {
    let w = sb.app.world();
    let mut out: Vec<Listing> = w
        .services
        .values()
        .filter(|s| s.agent == id)
        .map(|s| {
            let d = &s.data;
            let key = d.tags.iter().find(|t| t.starts_with("ia-key:")).cloned().unwrap_or_default();
            let mut tags = d.tags.clone();
            tags.sort();
            (key, s.active, d.title.clone(), d.short_desc.clone(), d.delivery_days, d.revisions, d.category.clone(), tags)
        })
        .collect();
    out.sort();
    out
}

/// A service of key `key`; `extra` lines (delivery_days: 1 unless they say).
fn service(key: &str, extra: &str) -> String {
    let days = if extra.contains("delivery_days") { "" } else { "    delivery_days: 1\n" };
    format!("  - key: {key}\n    title: {key} work\n    description: The {key} service.\n    price: 500\n{days}{extra}")
}

fn shop(services: &[String]) -> String {
    format!("kind: marketplace\nname: shop\nservices:\n{}deliverable:\n  text: done\nevery: 1s\n", services.concat())
}

/// Three runs of the daemon over one emulator: the file changes between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_reconciled_field_by_field_and_retired_when_removed() {
    let first = shop(&[service("logos", ""), service("icons", ""), service("fonts", "")]);
    // The buyer pays only by hand: an order placed stays open.
    let s = scenario("lister").community(1).behavior("shop.yaml", &first).sandbox(|c| c.checkout = Duration::from_secs(3600)).build().await;
    let sb = &s.sb;
    let d = s.start();
    assert!(eventually(Duration::from_secs(30), || listings(sb, &s.id).len() == 3).await, "three services listed");
    d.shutdown().await;
    let by_key = |key: &str| -> u64 {
        let w = sb.app.world();
        w.services.values().find(|x| x.agent == s.id && x.data.tags.contains(&format!("ia-key:{key}"))).map(|x| x.seq).unwrap()
    };
    let buyer = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let icons = by_key("icons");
    let order = sb.app.world().place_order(icons, &buyer, Some("an icon".into()), PaymentMethod::Card);

    // Every field of logos changes; icons (with an open order) and fonts (marked retire) go.
    let extra = "    short_desc: Logos fast\n    delivery_days: 3\n    revisions: 2\n    category: CREATIVE\n    tags: [logo, brand]\n";
    let second = shop(&[service("logos", extra), service("fonts", "    retire: true\n")]);
    s.write_behavior("shop.yaml", &second);
    let d = s.start();
    let logos = || -> Listing {
        let mut tags = vec!["brand".to_string(), "ia-key:logos".into(), "logo".into()];
        tags.sort();
        ("ia-key:logos".into(), true, "logos work".into(), Some("Logos fast".into()), 3, 2, Some("CREATIVE".into()), tags)
    };
    let icons_off =
        || -> Listing { ("ia-key:icons".into(), false, "icons work".into(), None, 1, 0, None, vec!["ia-key:icons".to_string()]) };
    let want = || vec![icons_off(), logos()];
    assert!(eventually(Duration::from_secs(30), || listings(sb, &s.id) == want()).await, "{:#?}", listings(sb, &s.id));
    d.shutdown().await;

    // The order is done: icons goes at the next start; nothing else is written.
    sb.app.world().update_order(order, &buyer, &OrderAction::Cancel, None).unwrap();
    let patches = served(sb, "PATCH /api/marketplace/services/{id}", 200);
    let d = s.start();
    assert!(eventually(Duration::from_secs(30), || listings(sb, &s.id) == vec![logos()]).await, "{:#?}", listings(sb, &s.id));
    d.shutdown().await;
    assert_eq!(served(sb, "PATCH /api/marketplace/services/{id}", 200), patches, "logos is as declared: not written again");
    assert_eq!(served(sb, "POST /api/marketplace/services", 0), 3, "each service created once");
    s.stop().await;
}

/// A generation model or voice the platform does not list stops the behavior
/// before it does anything, with an error naming the ones it lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_or_voice_the_platform_does_not_list_stops_the_behavior() {
    let gen = |model: &str| {
        format!("kind: generation_pipeline\nname: art\nschedule: \"*/1 * * * * *\"\nprovider: OPENAI\ntype: image\nprompt:\n  text: a lighthouse\nmodel: {model}\n")
    };
    let voice = "kind: generation_pipeline\nname: speech\nschedule: \"*/1 * * * * *\"\nprovider: ELEVENLABS\ntype: voice\nprompt:\n  text: hello\nparams:\n  voice_id: nobody\n";
    let providers = "providers:\n  OPENAI:\n    api_key_file: openai.key\n  ELEVENLABS:\n    api_key_file: eleven.key\n";
    let s = scenario("painter")
        .behavior("art.yaml", &gen("openai-image-deluxe"))
        .behavior("speech.yaml", voice)
        .config(providers)
        .metrics()
        .build()
        .await;
    std::fs::write(s.dir.path().join("openai.key"), "sk-proj-a-key-0123456789abcdef\n").unwrap();
    std::fs::write(s.dir.path().join("eleven.key"), "sk_0123456789abcdef0123456789abcdef\n").unwrap();
    let sb = &s.sb;
    let log = s.dir.path().join("daemon.log");
    let _d = spawn_logged(&s.cfg, &log);
    let port = s.metrics_port().await;
    let restarted = |b: &'static str| async move {
        metric(port, "imagine_agent_behavior_restarts_total", &[&format!("behavior=\"{b}\"")]).await >= Some(1)
    };
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(eventually_async(Duration::from_secs(30), || restarted("art")).await, "the unknown model stops art: {}", said());
    assert!(eventually_async(Duration::from_secs(30), || restarted("speech")).await, "the unknown voice stops speech");
    assert_eq!(received(sb, "POST /api/generate"), 0, "no job was started");
    let text = std::fs::read_to_string(&log).unwrap();
    let named = "the model \"openai-image-deluxe\" is not one of the platform's for OPENAI image: openai-image-standard, openai-image-fast";
    assert!(text.contains(named), "{text}");
    assert!(text.contains("is not one of the platform's for ELEVENLABS voice"), "{text}");
    drop(_d);
    // A model it lists: jobs start.
    s.write_behavior("art.yaml", &gen("openai-image-fast"));
    std::fs::remove_file(s.dir.path().join("behaviors/speech.yaml")).unwrap();
    let _d = spawn_logged(&s.cfg, &s.dir.path().join("second.log"));
    assert!(eventually(Duration::from_secs(30), || received(sb, "POST /api/generate") >= 1).await, "a job started");
    s.stop().await;
}
