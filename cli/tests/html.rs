//! The HTML report page (`--html FILE`): one self-contained file, well-formed
//! enough, the same bytes for the same input, and rendered by headless
//! Chromium into a screenshot that shows the charts.
//!
//! Chromium is required: without it the rendering test fails and says how to
//! install it (CI's `.ci/run` installs it).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn loyalty(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loyalty")).args(args).output().expect("the command runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A scratch directory for one test, under Cargo's target/tmp so the page
/// and its screenshot can be looked at after the run.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Nothing is fetched: no URL, no `src=`, no script, stylesheet link, import or `url(…)`.
fn assert_self_contained(page: &str) {
    let lower = page.to_lowercase();
    for outside in
        ["http://", "https://", "src=", "<script", "<link", "@import", "url(", "<iframe", "<object", "<embed"]
    {
        assert!(!lower.contains(outside), "the page refers to something outside it: {outside}");
    }
}

/// Every `open` has its `close`, in order (never more closes than opens so far).
fn assert_balanced(page: &str, open: &str, close: &str) -> usize {
    let mut tags: Vec<(usize, i32)> = page.match_indices(open).map(|(i, _)| (i, 1)).collect();
    tags.extend(page.match_indices(close).map(|(i, _)| (i, -1)));
    tags.sort_unstable();
    let mut depth = 0;
    for (at, step) in &tags {
        depth += step;
        assert!(depth >= 0, "{close} without {open} at byte {at}");
    }
    assert_eq!(depth, 0, "{open} not closed");
    tags.len() / 2
}

const TITLES: [&str; 5] = [
    "Liability and breakage by month",
    "Members per tier level",
    "RFM segments",
    "Earn and burn by rule",
    "Cohort retention",
];

/// The checks every page passes.
fn assert_page(page: &str, program_name: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..page.len().min(200)]);
    assert_self_contained(page);
    assert!(assert_balanced(page, "<svg", "</svg>") >= 3, "the charts are inline SVG");
    for (open, close) in [("<section", "</section>"), ("<table", "</table>"), ("<g ", "</g>"), ("<text ", "</text>")] {
        assert_balanced(page, open, close);
    }
    for title in TITLES {
        assert!(page.contains(&format!("<h2>{title}</h2>")), "no chart titled {title}");
    }
    assert!(page.contains(&format!("<h1>{}</h1>", escape(program_name))), "the escaped program name");
}

/// The headline value of a card (`Liability`, …), digit groups joined.
fn card(page: &str, key: &str) -> String {
    let start = format!("<div class=\"k\">{key}</div><div class=\"v\">");
    let at = page.find(&start).unwrap_or_else(|| panic!("no card {key}")) + start.len();
    page[at..].split("</div>").next().unwrap().replace("&#8239;", "")
}

/// The Chromium binary, or a failure saying how to get it.
fn chromium() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("chromium")).find(|p| p.is_file()));
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file())).unwrap_or_else(|| {
        panic!(
            "chromium is not installed: this test renders the HTML report in headless Chromium. \
             Install it (Debian: `apt-get update && apt-get install -y chromium`; CI's .ci/run does it)."
        )
    })
}

/// Renders `page` into `png` at 1200×2400 with headless Chromium.
fn screenshot(page: &Path, png: &Path, dir: &Path) {
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let log = dir.join("chromium.log");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("chromium.out")).unwrap())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than 180 s; its log: {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    assert!(png.is_file(), "chromium wrote no screenshot: {stderr}");
}

/// A decoded screenshot: RGB pixels.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Image {
    fn read(path: &Path) -> Image {
        let mut decoder = png::Decoder::new(File::open(path).unwrap());
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("the screenshot is a PNG");
        let mut buf = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut buf).expect("the screenshot decodes");
        let samples = frame.color_type.samples();
        assert!(samples >= 3, "a colour screenshot, not {:?}", frame.color_type);
        let rgb = buf[..frame.buffer_size()].chunks_exact(samples).map(|p| [p[0], p[1], p[2]]).collect();
        Image { width: frame.width, height: frame.height, rgb }
    }

    fn at(&self, x: i64, y: i64) -> Option<[u8; 3]> {
        let (x, y) = (u32::try_from(x).ok()?, u32::try_from(y).ok()?);
        (x < self.width && y < self.height).then(|| self.rgb[(y * self.width + x) as usize])
    }
}

fn close_to(pixel: Option<[u8; 3]>, colour: [u8; 3]) -> bool {
    pixel.is_some_and(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 24))
}

/// The points and colour of the first chart's line, from the page.
fn liability_line(page: &str) -> (Vec<(f64, f64)>, [u8; 3]) {
    let at = page.find("<polyline id=\"liability-line\"").expect("the liability line");
    let element = &page[at..at + page[at..].find("/>").unwrap()];
    let attribute = |name: &str| {
        let start = element.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        element[start..].split('"').next().unwrap().to_owned()
    };
    let points = attribute("points")
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    let hex = attribute("stroke");
    let channel = |i: usize| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap();
    (points, [channel(0), channel(1), channel(2)])
}

#[test]
fn the_demo_page_is_self_contained_and_renders_its_charts() {
    let dir = scratch("demo");
    let page_path = dir.join("demo.html");
    let out = loyalty(&["demo", "--json", "--html", page_path.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let page = std::fs::read_to_string(&page_path).unwrap();
    let program = std::fs::read_to_string(root().join("examples/programs/corner_coffee.toml")).unwrap();
    let program = loyalty::Program::from_toml_str(&program).unwrap();
    assert_page(&page, &program.spec().name);
    assert!(page.len() < 200_000, "the page is {} bytes", page.len());
    // The page shows the year `demo` prints.
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(card(&page, "Liability"), json["report"]["liability"].as_str().unwrap());
    assert_eq!(card(&page, "Average order"), json["report"]["average_order_value"].as_str().unwrap());
    // Deterministic: the same bytes again.
    let again = dir.join("again.html");
    assert_eq!(loyalty(&["demo", "--html", again.to_str().unwrap()]).status.code(), Some(0));
    assert!(std::fs::read(&again).unwrap() == page.as_bytes(), "a second run wrote other bytes");

    // Rendered by Chromium.
    let png_path = dir.join("demo.png");
    screenshot(&page_path, &png_path, &dir);
    let image = Image::read(&png_path);
    assert_eq!((image.width, image.height), (1200, 2400), "the window's size");
    let inked = image.rgb.iter().filter(|p| p.iter().any(|c| *c < 235)).count();
    let share = inked as f64 / image.rgb.len() as f64;
    assert!(share > 0.03, "the screenshot is nearly blank: {:.2} % of it is not white", share * 100.0);
    // The liability line is drawn in its colour: somewhere on the page, every
    // month's dot and the middle of every segment between them carry it.
    let (points, colour) = liability_line(&page);
    assert!(points.len() >= 12, "a point per month: {points:?}");
    let mut probes: Vec<(f64, f64)> = points.clone();
    probes.extend(points.windows(2).map(|w| ((w[0].0 + w[1].0) / 2.0, (w[0].1 + w[1].1) / 2.0)));
    let coloured = image.rgb.iter().filter(|p| close_to(Some(**p), colour)).count();
    assert!(coloured > 500, "only {coloured} pixels in the liability colour {colour:?}");
    let drawn = (0..1200_i64).flat_map(|y| (0..400_i64).map(move |x| (x, y))).find(|(ox, oy)| {
        probes.iter().all(|(x, y)| close_to(image.at(ox + x.round() as i64, oy + y.round() as i64), colour))
    });
    assert!(drawn.is_some(), "the liability line is not where the page draws it ({})", png_path.display());
    println!(
        "page {} bytes; screenshot {} ({:.1} % inked); the first chart's line at offset {drawn:?}",
        page.len(),
        png_path.display(),
        share * 100.0
    );
}

#[test]
fn report_html_escapes_the_programs_texts_and_leaves_the_text_output_alone() {
    let dir = scratch("report");
    let text_of = |p: &str| std::fs::read_to_string(root().join("examples").join(p)).unwrap();
    let name = r#"Home & Appliance <"Best">"#;
    let program =
        text_of("programs/home_appliance.toml").replacen("name = \"Home & Appliance\"", &format!("name = '{name}'"), 1);
    assert!(program.contains(name));
    let program_path = dir.join("program.toml");
    std::fs::write(&program_path, program).unwrap();
    let log = root().join("examples/data/home_appliance.jsonl");
    let page_path = dir.join("report.html");
    let (program_arg, log_arg, page_arg) =
        (program_path.to_str().unwrap(), log.to_str().unwrap(), page_path.to_str().unwrap());
    let with = loyalty(&["report", program_arg, log_arg, "--html", page_arg]);
    let without = loyalty(&["report", program_arg, log_arg]);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with).1);
    assert_eq!(text(&with).0, text(&without).0, "--html changes nothing on standard output");
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert_page(&page, name);
    assert!(page.contains("Home &amp; Appliance &lt;&quot;Best&quot;&gt;"));
    assert!(!page.contains("<\"Best\">"), "an unescaped name");
    let json = loyalty(&["report", "--json", program_arg, log_arg]);
    let r: serde_json::Value = serde_json::from_str(text(&json).0.trim()).unwrap();
    assert_eq!(card(&page, "Liability"), r["liability"].as_str().unwrap());
    // A page that cannot be written: an input error, exit code 3.
    let nowhere = dir.join("no such folder").join("page.html");
    let out = loyalty(&["report", program_arg, log_arg, "--html", nowhere.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).1.contains("no such folder"), "{}", text(&out).1);
}
