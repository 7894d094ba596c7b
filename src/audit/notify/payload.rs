//! The bodies each kind of receiver takes: the generic [`Message`] as JSON, a Slack incoming
//! webhook's `{"text": …}` (mrkdwn, with `&`, `<` and `>` escaped as Slack asks), and a Teams
//! Workflows message holding one Adaptive Card (1.4) of text blocks and a fact set.

use serde_json::{Value, json};

use super::{Finding, Message, Target};
use crate::output::escape::visible;

/// The JSON body for `target`.
pub(super) fn body(target: &Target, message: &Message) -> Value {
    match target {
        Target::Generic(_) => serde_json::to_value(message).expect("a message always serialises"),
        Target::Slack(_) => slack(message),
        Target::Teams(_) => teams(message),
    }
}

/// `portcullis audit run 5: 2 new, 1 reopened unhealthy findings; score 25.0%`.
fn headline(m: &Message) -> String {
    let mut parts = Vec::new();
    if m.kind == "baseline" {
        let unhealthy: usize = m.unhealthy.values().sum();
        parts.push(format!(
            "first run of this audit store: {unhealthy} unhealthy findings"
        ));
    }
    if m.new_count + m.reopened_count > 0 {
        parts.push(format!(
            "{} new, {} reopened unhealthy findings",
            m.new_count, m.reopened_count
        ));
    }
    if let Some(gate) = m.score_below {
        parts.push(format!("score below the minimum of {gate:.1}%"));
    }
    format!(
        "portcullis audit run {}: {}; score {:.1}%",
        m.run.id,
        parts.join("; "),
        m.run.score
    )
}

/// One line per listed finding, and how many were not listed.
fn lines(title: &str, listed: &[Finding], count: usize) -> Vec<String> {
    if count == 0 {
        return Vec::new();
    }
    let mut lines = vec![format!("{title} ({count}):")];
    lines.extend(listed.iter().map(|f| {
        let severity = f.severity.map_or("unknown".to_owned(), |s| s.to_string());
        format!("- {} ({severity}) {}", f.rule, visible(&f.resource))
    }));
    if count > listed.len() {
        lines.push(format!("… and {} more", count - listed.len()));
    }
    lines
}

fn detail(m: &Message) -> Vec<String> {
    let mut all = lines("New", &m.new, m.new_count);
    all.extend(lines("Reopened", &m.reopened, m.reopened_count));
    all
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(m: &Message) -> Value {
    let mut text = format!("*{}*", slack_escape(&headline(m)));
    for line in detail(m) {
        text.push('\n');
        text.push_str(&slack_escape(&line));
    }
    json!({ "text": text })
}

fn teams(m: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": headline(m), "weight": "Bolder", "wrap": true
    })];
    let mut facts = vec![
        json!({"title": "Run", "value": m.run.id.to_string()}),
        json!({"title": "Time", "value": m.run.time}),
        json!({"title": "Score", "value": format!("{:.1}%", m.run.score)}),
    ];
    facts.extend(m.unhealthy.iter().map(
        |(rule, count)| json!({"title": format!("Unhealthy {rule}"), "value": count.to_string()}),
    ));
    body.push(json!({"type": "FactSet", "facts": facts}));
    let detail = detail(m);
    if !detail.is_empty() {
        body.push(json!({"type": "TextBlock", "text": detail.join("\n\n"), "wrap": true}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::audit::notify::RunFacts;

    fn message() -> Message {
        Message {
            schema: "portcullis.notification/v1",
            kind: "changes",
            run: RunFacts {
                id: 5,
                time: "2026-12-03T00:00:00Z".to_owned(),
                score: 25.0,
                sources: Vec::new(),
                previous_run: Some(4),
                previous_score: Some(30.0),
            },
            score_below: None,
            new_count: 2,
            reopened_count: 0,
            new: vec![Finding {
                rule: "management-ports-closed".to_owned(),
                resource: "<vm&1>".to_owned(),
                scope: "s1".to_owned(),
                fingerprint: "f".to_owned(),
                severity: None,
            }],
            reopened: Vec::new(),
            unhealthy: BTreeMap::from([("management-ports-closed".to_owned(), 2)]),
        }
    }

    #[test]
    fn slack_text_is_escaped_and_says_what_was_left_out() {
        let url = reqwest::Url::parse("https://hooks.slack.com/x").unwrap();
        assert_eq!(
            body(&Target::Slack(url), &message())["text"],
            "*portcullis audit run 5: 2 new, 0 reopened unhealthy findings; score 25.0%*\n\
             New (2):\n- management-ports-closed (unknown) &lt;vm&amp;1&gt;\n… and 1 more"
        );
    }

    #[test]
    fn teams_gets_an_adaptive_card() {
        let url = reqwest::Url::parse("https://x.example/w").unwrap();
        let card = body(&Target::Teams(url), &message());
        let content = &card["attachments"][0]["content"];
        assert_eq!(content["type"], "AdaptiveCard");
        assert_eq!(content["body"][1]["facts"][3]["value"], "2");
        assert!(
            content["body"][2]["text"]
                .as_str()
                .unwrap()
                .contains("<vm&1>")
        );
    }
}
