//! The builtin agent's retrieval against a labelled question set over two knowledge bases (the
//! demo's, about voxgate, and a shop's): answerable questions name the attachment that answers
//! them, unanswerable ones must get "I don't know that yet". Prints precision and recall.
//! Targets: no passage at all for an unanswerable question, and at least 90 % of answerable
//! ones answered from the right attachment.

use voxgate_engine::agent::{AgentSpec, KnowledgeAttachment};
use voxgate_engine::builtin_agent::{BuiltinAgent, DONT_KNOW};

fn agent(knowledge: &[(&str, &str)]) -> BuiltinAgent {
    BuiltinAgent::new(&AgentSpec {
        name: "Support".into(),
        prompt: String::new(),
        greeting: Some("Hi! How can I help?".into()),
        knowledge: knowledge
            .iter()
            .map(|(title, text)| KnowledgeAttachment { title: (*title).into(), text: (*text).into() })
            .collect(),
        backend: Default::default(),
        tests: vec![],
        echo_delay_ms: 0,
        voice: Default::default(),
    })
}

/// The demo agent's knowledge (`http/src/demo.rs`).
const DEMO: &[(&str, &str)] = &[
    ("What voxgate is", "voxgate is the server behind website voice and text agent widgets. A customer's backend creates sessions with a workspace API key; the browser only gets a short-lived session token."),
    ("Voice", "Voice runs over WebRTC with one actor per live peer, sharded across CPU cores. The builtin agent echoes your audio back so the media path can be measured end to end."),
    ("Origins", "Each widget lists the web origins allowed to embed it. Saving a new allowlist applies to the very next request and ends sessions from origins no longer allowed."),
];

const SHOP: &[(&str, &str)] = &[
    ("Shipping", "We ship to every country in the European Union within three working days. Orders placed before 2 pm leave our warehouse the same day. Express delivery costs 9 euros and arrives the next working day. Shipping is free for orders over 50 euros."),
    ("Returns", "You can return anything you bought within 30 days of delivery for a full refund. Print the return label from your account page and drop the parcel at any post office. Refunds reach your card within five days of us receiving the parcel."),
    ("Payment", "We accept Visa, Mastercard, American Express, PayPal and bank transfer. Your card is charged when the order ships. Invoices are emailed as PDF."),
    ("Opening hours", "Our support team answers chat and phone from 9 am to 6 pm, Monday to Friday. The Berlin showroom is open on Saturdays from 10 am to 4 pm."),
    ("Warranty", "Every appliance has a two year warranty covering manufacturing defects. Register your appliance online to extend the warranty to three years. Damage from drops or water is not covered."),
    ("Contact", "Email support@example.com or call us on +49 30 1234567. For wholesale enquiries write to sales@example.com."),
];

/// (question, the attachment that answers it, or None for "I don't know that yet").
const DEMO_QUESTIONS: &[(&str, Option<&str>)] = &[
    ("What is voxgate?", Some("What voxgate is")),
    ("What does the customer's backend create?", Some("What voxgate is")),
    ("What does the browser get?", Some("What voxgate is")),
    ("Does voice run over WebRTC?", Some("Voice")),
    ("Is the media path sharded across CPU cores?", Some("Voice")),
    ("Why does the agent echo my audio?", Some("Voice")),
    ("Which origins may embed the widget?", Some("Origins")),
    ("When does a new allowlist apply?", Some("Origins")),
    ("How much does it cost per month?", None),
    ("Do you support video calls?", None),
    ("Can I run it on Windows?", None),
    ("What languages do you speak?", None),
    ("Is there a free trial?", None),
    ("Who founded the company?", None),
    ("What is the capital of Peru?", None),
];

const SHOP_QUESTIONS: &[(&str, Option<&str>)] = &[
    ("How long does shipping take?", Some("Shipping")),
    ("Do you ship within the European Union?", Some("Shipping")),
    ("How much is express delivery?", Some("Shipping")),
    ("Is shipping free?", Some("Shipping")),
    ("When does my order leave the warehouse?", Some("Shipping")),
    ("Can I return what I bought?", Some("Returns")),
    ("How do I get a refund?", Some("Returns")),
    ("Where do I print the return label?", Some("Returns")),
    ("Which payment methods do you accept?", Some("Payment")),
    ("Can I pay with PayPal?", Some("Payment")),
    ("When is my card charged?", Some("Payment")),
    ("Do you send invoices?", Some("Payment")),
    ("What are your opening hours?", Some("Opening hours")),
    ("Is the showroom open on Saturday?", Some("Opening hours")),
    ("How long is the warranty?", Some("Warranty")),
    ("Does the warranty cover water damage?", Some("Warranty")),
    ("How can I extend my warranty?", Some("Warranty")),
    ("How do I contact you?", Some("Contact")),
    ("Who do I write to about wholesale?", Some("Contact")),
    ("How much does it cost per month?", None),
    ("Do you sell gift cards?", None),
    ("Who is your CEO?", None),
    ("Can I pick up my order in Munich?", None),
    ("Is there a student discount?", None),
    ("Do you have a loyalty program?", None),
    ("What's the weather like today?", None),
    ("Are your products vegan?", None),
];

#[derive(Default, Debug)]
struct Tally {
    right: usize,
    wrong_passage: usize,
    missed: usize,
    declined: usize,
    false_answer: usize,
    answerable: usize,
    unanswerable: usize,
}

fn run(agent: &BuiltinAgent, questions: &[(&str, Option<&str>)], tally: &mut Tally) {
    for (question, expected) in questions {
        let answer = agent.answer(question);
        match (expected, answer.source.as_deref()) {
            (Some(want), Some(got)) if *want == got => tally.right += 1,
            (Some(want), Some(got)) => {
                tally.wrong_passage += 1;
                println!("WRONG   {question:?}: expected {want:?}, answered from {got:?}: {}", answer.text);
            }
            (Some(want), None) => {
                tally.missed += 1;
                println!("MISSED  {question:?}: expected {want:?}, said {:?}", answer.text);
            }
            (None, None) => {
                assert_eq!(answer.text, DONT_KNOW, "{question}");
                tally.declined += 1;
            }
            (None, Some(got)) => {
                tally.false_answer += 1;
                println!("FALSE   {question:?}: answered from {got:?}: {}", answer.text);
            }
        }
        if expected.is_some() {
            tally.answerable += 1;
        } else {
            tally.unanswerable += 1;
        }
    }
}

#[test]
fn retrieval_answers_what_it_knows_and_declines_the_rest() {
    let mut tally = Tally::default();
    run(&agent(DEMO), DEMO_QUESTIONS, &mut tally);
    run(&agent(SHOP), SHOP_QUESTIONS, &mut tally);
    let answered = tally.right + tally.wrong_passage + tally.false_answer;
    let precision = tally.right as f64 / answered.max(1) as f64;
    let recall = tally.right as f64 / tally.answerable as f64;
    println!(
        "{} questions ({} answerable, {} not): precision {:.1} %, recall {:.1} %; {tally:?}",
        tally.answerable + tally.unanswerable,
        tally.answerable,
        tally.unanswerable,
        precision * 100.0,
        recall * 100.0
    );
    assert!(tally.answerable + tally.unanswerable >= 30);
    assert_eq!(tally.false_answer, 0, "an unanswerable question got a passage");
    assert_eq!(tally.wrong_passage, 0, "an answerable question got the wrong passage");
    assert!(recall >= 0.9, "recall {recall:.3} is under 90 %");
}

#[test]
fn the_demo_knowledge_does_not_answer_a_price_question() {
    assert_eq!(agent(DEMO).answer("How much does it cost per month?").text, DONT_KNOW);
}
