//! The builtin agent's retrieval against the labelled set in `bench/relevance.json`: three
//! knowledge bases (the demo's, a shop's, a notes app's), questions that name the attachment
//! that answers them (in the knowledge's own words, paraphrased, or naming a title) and
//! off-topic ones that must get "I don't know that yet". Targets: no passage at all for an
//! off-topic question, no wrong passage, and at least 90 % of in-scope questions answered from
//! the right attachment. `scripts/bench-relevance` prints the table this test prints.

use serde::Deserialize;
use std::collections::BTreeMap;
use voxgate_engine::agent::{AgentSpec, KnowledgeAttachment};
use voxgate_engine::builtin_agent::{BuiltinAgent, DONT_KNOW};

#[derive(Deserialize)]
struct Set {
    knowledge_bases: Vec<KnowledgeBase>,
}

#[derive(Deserialize)]
struct KnowledgeBase {
    name: String,
    knowledge: Vec<KnowledgeAttachment>,
    questions: Vec<Question>,
}

#[derive(Deserialize)]
struct Question {
    text: String,
    passage: Option<String>,
    kind: String,
}

fn set() -> Set {
    serde_json::from_str(include_str!("../../bench/relevance.json")).expect("bench/relevance.json parses")
}

fn agent(knowledge: &[KnowledgeAttachment]) -> BuiltinAgent {
    BuiltinAgent::new(&AgentSpec {
        name: "Support".into(),
        prompt: String::new(),
        greeting: Some("Hi! How can I help?".into()),
        knowledge: knowledge.to_vec(),
        backend: Default::default(),
        tests: vec![],
        echo_delay_ms: 0,
        voice: Default::default(),
        tools: Vec::new(),
        filler_after_ms: 700,
        filler: "One moment, I'm checking that.".into(),
        analysis: None,
    })
}

/// What happened to the questions of one kind.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    asked: usize,
    right: usize,
    /// In scope, answered from another attachment.
    wrong: usize,
    /// In scope, answered "I don't know that yet".
    missed: usize,
    /// Off-topic, answered "I don't know that yet".
    declined: usize,
    /// Off-topic, answered from a passage.
    answered_off_topic: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.asked += other.asked;
        self.right += other.right;
        self.wrong += other.wrong;
        self.missed += other.missed;
        self.declined += other.declined;
        self.answered_off_topic += other.answered_off_topic;
    }
}

fn ask(agent: &BuiltinAgent, q: &Question) -> Tally {
    let answer = agent.answer(&q.text);
    let mut t = Tally { asked: 1, ..Tally::default() };
    match (q.passage.as_deref(), answer.source.as_deref()) {
        (Some(want), Some(got)) if want == got => t.right = 1,
        (Some(want), Some(got)) => {
            t.wrong = 1;
            println!("WRONG   {:?}: expected {want:?}, answered from {got:?}", q.text);
        }
        (Some(want), None) => {
            t.missed = 1;
            println!("MISSED  {:?}: expected {want:?}", q.text);
        }
        (None, None) => {
            assert_eq!(answer.text, DONT_KNOW, "{}", q.text);
            t.declined = 1;
        }
        (None, Some(got)) => {
            t.answered_off_topic = 1;
            println!("FALSE   {:?}: answered from {got:?}: {}", q.text, answer.text);
        }
    }
    t
}

#[test]
fn retrieval_answers_what_it_knows_and_declines_the_rest() {
    let set = set();
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut bases = Vec::new();
    for kb in &set.knowledge_bases {
        let agent = agent(&kb.knowledge);
        let mut base = Tally::default();
        for q in &kb.questions {
            assert!(
                q.passage.as_ref().is_none_or(|p| kb.knowledge.iter().any(|k| &k.title == p)),
                "{:?} names no attachment of {}",
                q.text,
                kb.name
            );
            assert_eq!(q.passage.is_none(), q.kind == "off_topic", "{:?}: kind {}", q.text, q.kind);
            let t = ask(&agent, q);
            by_kind.entry(q.kind.clone()).or_default().add(t);
            base.add(t);
        }
        bases.push((kb.name.clone(), base));
    }
    let mut all = Tally::default();
    println!("| set | questions | in scope: right | wrong passage | fallback | off-topic: fallback | off-topic: a passage |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in bases
        .iter()
        .map(|(n, t)| (format!("knowledge: {n}"), t))
        .chain(by_kind.iter().map(|(k, t)| (format!("kind: {k}"), t)))
    {
        print_row(&name, t);
    }
    for (_, t) in &bases {
        all.add(*t);
    }
    print_row("**all**", &all);
    let in_scope = all.right + all.wrong + all.missed;
    let off_topic = all.declined + all.answered_off_topic;
    let right = all.right as f64 / in_scope as f64;
    println!("in scope right: {:.1} %", right * 100.0);
    assert!(set.knowledge_bases.len() >= 3 && all.asked >= 40 && off_topic >= 15, "{all:?}");
    assert_eq!(all.answered_off_topic, 0, "an off-topic question got a passage");
    assert_eq!(all.wrong, 0, "an in-scope question got the wrong passage");
    assert!(right >= 0.9, "in scope right {right:.3} is under 90 %");
}

fn print_row(name: &str, t: &Tally) {
    let in_scope = t.right + t.wrong + t.missed;
    let off_topic = t.declined + t.answered_off_topic;
    println!(
        "| {name} | {} | {} of {in_scope} | {} | {} | {} of {off_topic} | {} |",
        t.asked, t.right, t.wrong, t.missed, t.declined, t.answered_off_topic
    );
}

#[test]
fn the_set_holds_the_demo_agents_own_knowledge() {
    let demo: Vec<KnowledgeAttachment> =
        serde_json::from_str(include_str!("../../http/src/demo-knowledge.json"))
            .expect("demo knowledge parses");
    let set = set();
    let kb = set.knowledge_bases.iter().find(|kb| kb.name == "demo").expect("a demo knowledge base");
    assert_eq!(kb.knowledge, demo, "bench/relevance.json's demo knowledge is http/src/demo-knowledge.json");
}
