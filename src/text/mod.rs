//! Radiology report text: BERT's WordPiece tokenisation for ConVIRT's text tower.

pub mod wordpiece;

pub use wordpiece::{ReportTokenizer, TokenBatch};
