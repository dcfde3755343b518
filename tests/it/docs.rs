//! The repository explains itself: every `docs/….md` that code, scripts or docs point a user to
//! exists (an error message once pointed at a missing `docs/GPU.md`).

use std::path::Path;

#[test]
fn every_document_the_repository_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    let mut stack = vec![root.join("src"), root.join("scripts"), root.join("docs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push((path, text));
            }
        }
    }
    texts.push((
        root.join("README.md"),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    ));
    let mut named = 0;
    for (file, text) in &texts {
        for (i, _) in text.match_indices("docs/") {
            let rest = &text[i + 5..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with(".md") {
                named += 1;
                let doc = root.join("docs").join(format!("{name}.md"));
                assert!(
                    doc.is_file(),
                    "{} names docs/{name}.md, which does not exist",
                    file.display()
                );
            }
        }
    }
    assert!(named >= 5, "only {named} references found");
}
