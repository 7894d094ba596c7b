//! The HTML report as a person sees it: the demo report rendered in headless Chromium, at desktop
//! and phone sizes, with its filters used; and cloud data that looks like markup shown as text.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portcullis::finding::Status;
use portcullis::output::{Report, render_html};
use portcullis::policy::Policy;
use serde_json::{Value, json};
use support::browser::{Browser, png_size};
use support::*;

/// Where the demo screenshot is written; `docs/report.png` is a copy of it.
fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-report.png")
}

fn write_html(report: &Report, dir: &Path) -> PathBuf {
    let path = dir.join("report.html");
    std::fs::write(&path, render_html(report, &Policy::builtin())).unwrap();
    path
}

/// Names of the VMs with an unhealthy finding, as the report lists them.
fn unhealthy_vms(report: &Report) -> BTreeSet<String> {
    report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unhealthy)
        .map(|f| f.resource_name.clone())
        .collect()
}

fn names(value: Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// CSS pixels across a common phone.
const PHONE_WIDTH: u32 = 390;

/// Names of the VM cards a person can see (not filtered out, laid out with a size).
const VISIBLE_VMS: &str = "[...document.querySelectorAll('details.vm')]\
    .filter(e => e.getBoundingClientRect().height > 0)\
    .map(e => e.querySelector('.vm-name').innerText)";

#[test]
fn demo_report_shows_the_score_and_the_unhealthy_vms() {
    let report = demo_scan();
    let dir = tempfile::tempdir().unwrap();
    let html = write_html(&report, dir.path());
    let mut browser = Browser::launch(1280, 1800);
    browser.open(&html);

    let text = browser.eval("document.body.innerText");
    let text = text.as_str().unwrap();
    let score = format!("{:.1}%", report.score.percent);
    assert!(text.contains(&score), "the page does not show {score}");
    // The score is in the first screenful, not below the fold.
    let gauge_bottom =
        browser.eval("document.querySelector('svg.gauge').getBoundingClientRect().bottom");
    assert!(gauge_bottom.as_f64().unwrap() < 1800.0);
    assert_eq!(
        browser.eval("document.querySelector('svg.gauge').getAttribute('aria-label')"),
        json!(format!("Secure score {score}"))
    );

    let unhealthy = unhealthy_vms(&report);
    assert!(unhealthy.len() > 10, "the demo has many unhealthy VMs");
    let opened = names(browser.eval(
        "[...document.querySelectorAll('details.vm[data-status=unhealthy]')]\
         .filter(e => e.open && e.getBoundingClientRect().height > 0)\
         .map(e => e.querySelector('.vm-name').innerText)",
    ));
    assert_eq!(opened, unhealthy, "every unhealthy VM is shown open");
    let glance =
        names(browser.eval("[...document.querySelectorAll('.glance a')].map(a => a.innerText)"));
    assert_eq!(
        glance, unhealthy,
        "the list at the top names every unhealthy VM"
    );
    for name in &unhealthy {
        assert!(text.contains(name.as_str()), "{name} is not on the page");
    }
    // The exact address count and the rule that opens the port, for one VM.
    assert!(text.contains("3,702,258,432 IPv4 addresses"));
    assert!(text.contains("NSG rule allow-ssh (priority 300) of web-01-nsg"));
    assert!(text.contains(
        "az network nsg rule delete --ids /subscriptions/11111111-1111-4111-8111-111111111111/\
         resourceGroups/rg-prod/providers/Microsoft.Network/networkSecurityGroups/web-01-nsg/\
         securityRules/allow-ssh"
    ));
    // The fix plan command of that VM, next to the raw commands.
    assert!(text.contains(
        "portcullis fix plan --azure --subscriptions 11111111-1111-4111-8111-111111111111 \
         --resource web-01 -o plan.json"
    ));

    let png = browser.screenshot();
    assert_eq!(png_size(&png), (1280, 1800));
    std::fs::write(screenshot_path(), &png).unwrap();
}

#[test]
fn filters_and_search_narrow_the_list() {
    let report = demo_scan();
    let dir = tempfile::tempdir().unwrap();
    let html = write_html(&report, dir.path());
    let mut browser = Browser::launch(1280, 900);
    browser.open(&html);
    let vm_count = report
        .findings
        .iter()
        .map(|f| f.resource.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    assert_eq!(names(browser.eval(VISIBLE_VMS)).len(), vm_count);

    browser.eval("document.querySelector('[data-filter=unhealthy]').click()");
    assert_eq!(names(browser.eval(VISIBLE_VMS)), unhealthy_vms(&report));
    assert_eq!(
        browser.eval("document.getElementById('shown').innerText"),
        json!(format!(
            "{} of {vm_count} VMs",
            unhealthy_vms(&report).len()
        ))
    );

    browser.eval("document.querySelector('[data-filter=all]').click()");
    browser.eval(
        "const q = document.getElementById('search'); q.value = 'WEB-01'; \
         q.dispatchEvent(new Event('input'))",
    );
    assert_eq!(
        names(browser.eval(VISIBLE_VMS)),
        BTreeSet::from(["web-01".to_string()])
    );

    browser.eval("document.querySelector('[data-filter=healthy]').click()");
    assert!(
        names(browser.eval(VISIBLE_VMS)).is_empty(),
        "web-01 is not healthy"
    );
}

#[test]
fn demo_report_fits_a_phone_and_makes_no_requests() {
    let report = demo_scan();
    let dir = tempfile::tempdir().unwrap();
    let html = write_html(&report, dir.path());
    let mut browser = Browser::launch(PHONE_WIDTH, 844);
    browser.open(&html);
    // A phone zooms out to show a page wider than itself; the page must not need it.
    let too_wide = browser.eval(&format!(
        "(() => {{
           const out = [document.documentElement.scrollWidth];
           const text = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
           const range = document.createRange();
           while (text.nextNode() && out.length < 6) {{
             range.selectNodeContents(text.currentNode);
             if (range.getBoundingClientRect().right > {PHONE_WIDTH} + 1) {{
               out.push(text.currentNode.parentElement.tagName + ': ' + text.currentNode.data.slice(0, 60));
             }}
           }}
           return out;
         }})()"
    ));
    assert_eq!(
        too_wide,
        json!([PHONE_WIDTH]),
        "the page is wider than a phone (width, then the text sticking out)"
    );
    assert_eq!(
        browser.eval("performance.getEntriesByType('resource').length"),
        json!(0),
        "the page loads nothing"
    );
    let links = browser.eval(
        "[...document.querySelectorAll('[src], [href]')]\
         .map(e => e.getAttribute('src') || e.getAttribute('href'))\
         .filter(v => !v.startsWith('#'))",
    );
    assert_eq!(links, json!([]), "only links within the page");
}

#[test]
fn names_from_cloud_data_are_text_not_markup() {
    let name = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">";
    let resources = AzureVm::new()
        .nic(vec![allow(100, "Tcp", "*", "22")])
        .resources_with_vm_name(name);
    let report = scan_files(&[("resources.json", json!({ "value": resources }))]);
    assert_eq!(report.findings[0].resource_name, name);

    let html = render_html(&report, &Policy::builtin());
    assert!(
        !html.contains("<script>window.pwned"),
        "the name is escaped"
    );
    assert!(!html.contains("<img src=x"), "the name is escaped");

    let dir = tempfile::tempdir().unwrap();
    let path = write_html(&report, dir.path());
    let mut browser = Browser::launch(1280, 900);
    browser.open(&path);
    assert_eq!(browser.eval("typeof window.pwned"), json!("undefined"));
    assert_eq!(
        browser.eval("document.querySelectorAll('img').length"),
        json!(0)
    );
    assert_eq!(
        browser.eval("document.querySelector('.vm-name').innerText"),
        json!(name)
    );
    // The fix plan command names it as text too, quoted for the shell.
    let plan = browser.eval("document.querySelector('.plan code').innerText");
    let quoted = shlex::try_quote(name).unwrap();
    assert!(
        plan.as_str()
            .unwrap()
            .contains(&format!("--resource {quoted} -o plan.json")),
        "{plan}"
    );
}

/// `portcullis ARGS`, which must succeed.
fn portcullis_ok(args: &[&str]) {
    demo_inputs();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_audits_report_shows_the_score_over_time_and_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let store = format!("sqlite:{}", path("audit.db"));
    portcullis_ok(&[
        "snapshot",
        "-i",
        "fixtures/azure-demo",
        "-o",
        &path("full.json"),
    ]);
    let mut estate: Value =
        serde_json::from_str(&std::fs::read_to_string(path("full.json")).unwrap()).unwrap();
    estate["vms"]
        .as_array_mut()
        .unwrap()
        .retain(|vm| vm["name"] != "web-01");
    std::fs::write(path("smaller.json"), estate.to_string()).unwrap();

    // Run 1 lacks web-01; run 2, with it, writes the page.
    let audit = |input: &str, html: Option<&str>| {
        let mut args = vec!["audit", "-i", input, "--store", &store, "-o", "/dev/null"];
        args.extend(html.map(|h| ["--output-html", h]).into_iter().flatten());
        portcullis_ok(&args);
    };
    let first = path("first.html");
    audit(&path("smaller.json"), Some(&first));
    let html = path("report.html");
    audit(&path("full.json"), Some(&html));

    let mut browser = Browser::launch(1280, 1800);
    browser.open(Path::new(&first));
    assert_eq!(
        browser.eval("document.querySelectorAll('#history').length"),
        0
    );
    browser.open(Path::new(&html));
    assert_eq!(
        browser.eval("document.querySelectorAll('svg.trend circle').length"),
        2
    );
    let label = browser.eval("document.querySelector('svg.trend').getAttribute('aria-label')");
    assert!(
        label
            .as_str()
            .unwrap()
            .starts_with("Secure score over 2 runs"),
        "{label}"
    );
    let headings =
        browser.eval("[...document.querySelectorAll('#history h3')].map(h => h.textContent)");
    assert_eq!(
        headings,
        json!(["New since run 1 (2)", "Fixed since run 1 (0)"])
    );
    assert_eq!(
        names(
            browser
                .eval("[...document.querySelectorAll('.new-since strong')].map(e => e.innerText)")
        ),
        BTreeSet::from(["web-01".to_owned()])
    );
    // The line is drawn: it has a length on the page.
    let width =
        browser.eval("document.querySelector('svg.trend polyline').getBoundingClientRect().width");
    assert!(width.as_f64().unwrap() > 100.0, "{width}");
}
