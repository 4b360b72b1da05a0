//! Property-based fuzzing of everything that reads outside input: behavior
//! files, templates, notifications from the platform, cron expressions, `${VAR}`
//! interpolation, the text guardrails, and the webhook receiver (over HTTP).
//! No input may panic; every rejection is a located, readable problem.

use std::path::Path;
use std::time::Duration;

use imagine_agent::api::list::{decode_one, decode_page};
use imagine_agent::behaviors::engine::content::{check_template, finalize, render};
use imagine_agent::behaviors::engine::schedule::Schedule;
use imagine_agent::behaviors::parse_file;
use imagine_agent::config::interpolate;
use imagine_agent::wire::limits::char_len;
use imagine_agent::wire::types::Notification;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-zA-Z_@#]{0,12}".prop_map(Value::from),
        prop_oneof![Just("MENTION"), Just("FOLLOW"), Just("REPLY"), Just("ntf_1"), Just("post_2")].prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("type".to_string()),
                    Just("actor".to_string()),
                    Just("agent".to_string()),
                    Just("postId".to_string()),
                    Just("notifications".to_string()),
                    Just("nextCursor".to_string()),
                    Just("hasMore".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// YAML-ish text built from the words behavior files use.
fn yamlish() -> impl Strategy<Value = String> {
    // Every registered kind's name, so a new kind is fuzzed without touching this file.
    let kinds = prop::sample::select(imagine_agent::behaviors::kinds());
    let tokens = prop_oneof![
        Just("kind: "),
        kinds,
        Just("name: "),
        Just("x"),
        Just("schedule: "),
        Just("\"0 9 * * 1\""),
        Just("content:"),
        Just("  text: "),
        Just("  template: "),
        Just("{{ author }}"),
        Just("{% if %}"),
        Just("  list:"),
        Just("    items: [a, b]"),
        Just("  llm:"),
        Just("    prompt: p"),
        Just("on: [MENTION]"),
        Just("filters:"),
        Just("  regex: \"(\""),
        Just("guardrails:"),
        Just("  max_thread_depth: 0"),
        Just("timezone: "),
        Just("Europe/Paris"),
        Just("provider: OPENAI"),
        Just("type: image"),
        Just("prompt:"),
        Just("\n"),
        Just("\n---\n"),
        Just("  "),
        Just("- "),
        Just(": "),
        Just("\""),
        Just("'"),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just("&a "),
        Just("*a"),
        Just("!tag "),
        Just("é"),
        Just("\t"),
    ];
    prop::collection::vec(tokens, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_and_locates_every_problem(s in prop_oneof![yamlish(), any::<String>()]) {
        let mut problems = vec![];
        let loaded = parse_file(Path::new("f.yaml"), &s, &mut problems);
        let lines = s.lines().count().max(1) + 1;
        for p in &problems {
            prop_assert!(p.line >= 1 && p.column >= 1 && p.line <= lines + 1, "{p}");
            prop_assert!(!p.message.is_empty());
            prop_assert!(p.to_string().starts_with("f.yaml:"));
        }
        for b in loaded {
            prop_assert!(!b.behavior.name().is_empty());
        }
    }

    #[test]
    fn templates_never_panic(s in prop_oneof![any::<String>(), "[{}%#a-z |().\\[\\]'\"0-9]{0,60}"]) {
        let _ = check_template(&s);
        let _ = render(&s, &json!({"author": "x", "text": "y", "counter": 3}));
    }

    #[test]
    fn the_notification_decoder_never_panics(v in arb_json()) {
        let _ = serde_json::from_value::<Notification>(v.clone());
        let _ = decode_page::<Notification>(v.to_string().as_bytes(), "notifications");
    }

    #[test]
    fn the_answer_decoders_never_panic_on_any_body(body in prop_oneof![any::<Vec<u8>>(), "[ \\[\\]{}\",:a-z0-9nul]{0,80}".prop_map(String::into_bytes)]) {
        let _ = decode_page::<Notification>(&body, "notifications");
        let _ = decode_one::<Notification>(&body, "notification");
    }

    #[test]
    fn schedules_never_panic(expr in prop_oneof![any::<String>(), "[0-9*/,\\- A-Za-z?]{0,30}"], tz in prop_oneof![any::<String>(), Just("UTC".to_string())]) {
        if let Ok(s) = Schedule::parse(&expr, &tz) {
            let now = chrono::Utc::now();
            if let Some(n) = s.next_after(now) {
                prop_assert!(n > now);
            }
        }
    }

    #[test]
    fn interpolation_never_panics(s in prop_oneof![any::<String>(), "[${}A-Z_a-z#\n ]{0,40}"]) {
        let mut problems = vec![];
        let _ = interpolate(Path::new("c.yaml"), &s, &mut problems, &mut Default::default());
        for p in problems {
            prop_assert!(p.line >= 1 && p.column >= 1);
        }
    }

    /// A secret is seen however it is disguised: invisible characters between
    /// its letters, letters swapped for look-alikes, its case changed, text around it.
    #[test]
    fn a_secret_is_seen_through_invisible_characters_look_alikes_and_case(
        secret in "[a-z0-9]{3}[a-z]{3}[a-z0-9-]{6,20}",
        invisible in prop::collection::vec(prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{180E}']), 1..6),
        every in 1usize..5,
        lookalike in any::<bool>(),
        upper in any::<bool>(),
        before in "[a-zA-Z ,.]{0,30}",
        after in "[a-zA-Z ,.]{0,30}",
    ) {
        let mut disguised = String::new();
        for (i, c) in secret.chars().enumerate() {
            let c = match (lookalike, c) {
                (true, 'a') => '\u{0430}', // Cyrillic a
                (true, 'e') => '\u{0435}', // Cyrillic e
                (true, 'o') => '\u{043E}', // Cyrillic o
                (true, 'p') => '\u{0440}', // Cyrillic er
                (_, c) if upper => c.to_ascii_uppercase(),
                (_, c) => c,
            };
            disguised.push(c);
            if i % every == 0 {
                disguised.push(invisible[i % invisible.len()]);
            }
        }
        let text = format!("{before}{disguised}{after}");
        let secrets = vec![secrecy::SecretString::from(secret.clone())];
        prop_assert!(imagine_agent::llm::guard::contains_secret(&text, &secrets), "{secret:?} not seen in {text:?}");
        prop_assert_eq!(imagine_agent::llm::reject_reason(&text, &[], &secrets), Some("contains a secret"));
        // A text without it passes.
        let without = format!("{before} {after}");
        prop_assert!(!imagine_agent::llm::guard::contains_secret(&without, &secrets), "seen in {:?}", without);
    }

    #[test]
    fn the_text_guardrails_hold_for_any_text(s in prop_oneof![any::<String>(), "[@a-z,_ \n]{0,800}"], max in 1usize..600, mentions in 0usize..4) {
        if let Some(t) = finalize(&s, max, mentions) {
            prop_assert!(char_len(&t) <= max, "{} > {max}", char_len(&t));
            let n = imagine_agent::wire::limits::mention_starts(&t).len();
            prop_assert!(n <= mentions, "{n} mentions > {mentions}: {t:?}");
            prop_assert!(!t.trim().is_empty());
        }
    }
}

/// A real webhook receiver on loopback, for one agent backed by a real sled store.
struct Receiver {
    rt: tokio::runtime::Runtime,
    url: String,
    http: reqwest::Client,
    store: imagine_agent::store::AgentStore,
    _dir: tempfile::TempDir,
}

const WEBHOOK_SECRET: &str = "whsec_fuzz";

fn receiver() -> &'static Receiver {
    use imagine_agent::behaviors::Agent;
    use imagine_agent::metrics::Metrics;
    use imagine_agent::runtime::webhook;
    use std::sync::{Arc, OnceLock, RwLock};
    static R: OnceLock<Receiver> = OnceLock::new();
    R.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = imagine_agent::store::Store::open(&dir.path().join("sled")).unwrap().agent("fuzzed").unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let (receivers, addr) =
            rt.block_on(webhook::serve("127.0.0.1:0".parse().unwrap(), "/hook", Duration::from_secs(300), true, None, stop)).unwrap();
        let agent = Arc::new(Agent {
            handle: "fuzzed".into(),
            id: "agent_1".into(),
            session: imagine_agent::api::Session::anonymous("http://127.0.0.1:9").unwrap(),
            store: store.clone(),
            dry_run: true,
            poll_interval: Duration::from_secs(60),
            metrics: Arc::new(Metrics::new("fuzzed")),
            llm: None,
            persona: json!({}),
            handover: tokio::sync::Mutex::new(()),
            routes: Default::default(),
            clock: Default::default(),
            character: None,
            notices: None,
            secrets: Default::default(),
        });
        receivers.add(agent, Arc::new(RwLock::new(vec![])), WEBHOOK_SECRET.to_string().into());
        Receiver { rt, url: format!("http://{addr}/hook"), http: reqwest::Client::new(), store, _dir: dir }
    })
}

impl Receiver {
    fn send(&self, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> u16 {
        self.rt.block_on(async {
            let mut r = self.http.post(&self.url).body(body);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    }
}

/// Signed deliveries sent so far: (timestamp, body).
static SENT: std::sync::Mutex<std::collections::BTreeSet<(i64, Vec<u8>)>> = std::sync::Mutex::new(std::collections::BTreeSet::new());

fn now_s() -> i64 {
    imagine_agent::store::now_ms() / 1000
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Anything not signed with the secret is refused (401), never a crash or a 5xx.
    #[test]
    fn the_webhook_receiver_refuses_whatever_is_not_signed(
        sig in prop_oneof![any::<String>(), "sha256=[0-9a-f]{0,70}"],
        ts in prop_oneof![any::<i64>().prop_map(|t| t.to_string()), any::<String>()],
        body in prop::collection::vec(any::<u8>(), 0..400),
        with_sig in any::<bool>(),
    ) {
        let r = receiver();
        let mut headers = vec![("x-imagineanything-timestamp", ts)];
        if with_sig {
            headers.push(("x-imagineanything-signature", sig));
        }
        let headers = headers.into_iter().filter(|(_, v)| reqwest::header::HeaderValue::from_str(v).is_ok()).collect();
        prop_assert_eq!(r.send(headers, body), 401);
    }

    /// Signed deliveries of any shape: a notification with an id is recorded; anything else is a 400 or ignored.
    #[test]
    fn the_webhook_receiver_handles_any_signed_body(
        data in arb_json(),
        event in prop_oneof![Just("notification".to_string()), "[a-z.]{0,12}"],
        raw in prop::collection::vec(any::<u8>(), 0..200),
        as_json in any::<bool>(),
    ) {
        let r = receiver();
        // A nonce makes each case a new delivery (the same signed body again is a replay, refused with 409).
        let body = if as_json { json!({"id": "evt", "nonce": rand::random::<u64>(), "event": event, "data": data}).to_string().into_bytes() } else { raw };
        let ts = now_s();
        let repeat = !SENT.lock().unwrap().insert((ts, body.clone()));
        let sig = imagine_agent::sandbox::webhooks::sign(WEBHOOK_SECRET, ts as u64, &String::from_utf8_lossy(&body));
        let lossless = std::str::from_utf8(&body).is_ok();
        let delivery = format!("d-{}", rand::random::<u64>());
        let status = r.send(vec![("x-imagineanything-signature", sig), ("x-imagineanything-timestamp", ts.to_string()), ("x-imagineanything-delivery", delivery)], body);
        if !lossless {
            prop_assert_eq!(status, 401, "the signature covered other bytes");
            return Ok(());
        }
        if repeat {
            prop_assert_eq!(status, 409, "the same signed delivery again is a replay");
            return Ok(());
        }
        prop_assert!(status == 200 || status == 400, "status {}", status);
        let note = (as_json && event == "notification").then(|| serde_json::from_value::<Notification>(data).ok()).flatten();
        if let Some(n) = note.filter(|n| !n.id.is_empty()) {
            prop_assert_eq!(status, 200);
            prop_assert!(r.store.seen(&n.id).unwrap(), "a signed notification is recorded");
        }
    }
}
