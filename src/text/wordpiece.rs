//! BERT's WordPiece tokeniser through Hugging Face's own `tokenizers` crate, set up exactly as
//! transformers' `BertTokenizerFast` (and its Python `BertTokenizer`) from a `vocab.txt`: text
//! cleaned, Chinese characters split, lower-cased and accents stripped when `do_lower_case`,
//! split on whitespace and punctuation, WordPiece with `##` continuations and `[UNK]`, then
//! `[CLS] … [SEP]`, truncated to `max_length` tokens, and a batch padded with `[PAD]` to its
//! longest report. A model folder's `tokenizer.json` is read as it is when there is no
//! `vocab.txt` (docs/CONVIRT.md, "Tokeniser").

use std::path::Path;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// BERT's special tokens, which a vocabulary must hold.
const SPECIAL: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

/// Reports tokenised for BERT: `[batch, tokens]` row-major ids, attention mask (1 for tokens, 0
/// for padding) and token types (all 0: one segment).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    pub batch: usize,
    pub tokens: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

/// A BERT tokeniser that pads and truncates as ConVIRT's training loop asks transformers to.
pub struct ReportTokenizer {
    inner: Tokenizer,
}

impl ReportTokenizer {
    /// From a WordPiece `vocab.txt`, as `BertTokenizerFast(vocab, do_lower_case=…)`.
    pub fn from_vocab(vocab: &Path, do_lower_case: bool, max_length: usize) -> Result<Self> {
        // The crate's own reader, read once: the special tokens are looked up in what the model
        // is then built from.
        let words = WordPiece::read_file(&vocab.to_string_lossy())
            .map_err(|e| Error::bad_file(vocab, format!("cannot read the vocabulary: {e}")))?;
        let id = |t: &str| {
            words.get(t).copied().ok_or_else(|| {
                Error::bad_file(
                    vocab,
                    format!(
                        "the vocabulary lacks BERT's special token {t} (it needs {})",
                        SPECIAL.join(", ")
                    ),
                )
            })
        };
        let (sep, cls, pad) = (id("[SEP]")?, id("[CLS]")?, id("[PAD]")?);
        id("[UNK]")?;
        let model = WordPiece::builder()
            .vocab(words)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| Error::bad_file(vocab, format!("not a WordPiece vocabulary: {e}")))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, do_lower_case)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                ("[SEP]".into(), sep),
                ("[CLS]".into(), cls),
            )));
        Self::with_limits(inner, pad, max_length, vocab)
    }

    /// From a Hugging Face `tokenizer.json` (its own normaliser and special tokens).
    pub fn from_tokenizer_json(path: &Path, max_length: usize) -> Result<Self> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| Error::bad_file(path, format!("not a tokenizer.json: {e}")))?;
        let pad = inner
            .token_to_id("[PAD]")
            .ok_or_else(|| Error::bad_file(path, "the tokenizer has no [PAD] token"))?;
        Self::with_limits(inner, pad, max_length, path)
    }

    /// A model folder's tokeniser: `vocab.txt` (with `do_lower_case`), else `tokenizer.json`.
    pub fn from_model_dir(dir: &Path, do_lower_case: bool, max_length: usize) -> Result<Self> {
        let vocab = dir.join("vocab.txt");
        let json = dir.join("tokenizer.json");
        if vocab.is_file() {
            Self::from_vocab(&vocab, do_lower_case, max_length)
        } else if json.is_file() {
            Self::from_tokenizer_json(&json, max_length)
        } else {
            Err(Error::bad_file(
                dir,
                "no vocab.txt or tokenizer.json: not a BERT model folder",
            ))
        }
    }

    fn with_limits(mut inner: Tokenizer, pad: u32, max_length: usize, from: &Path) -> Result<Self> {
        if max_length < 3 {
            return Err(Error::InvalidArgument(format!(
                "max_length {max_length}: BERT needs room for [CLS], a token and [SEP]"
            )));
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::bad_file(from, format!("cannot truncate: {e}")))?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: pad,
            pad_token: "[PAD]".into(),
            ..Default::default()
        }));
        Ok(Self { inner })
    }

    /// A token's id in the vocabulary (`[MASK]`, `[CLS]`, …), if it has one.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// One text's ids, `[CLS] … [SEP]`, truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::InvalidArgument(format!("cannot tokenise {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// A batch of texts, padded to the longest.
    pub fn encode_batch(&self, texts: &[String]) -> Result<TokenBatch> {
        let encs = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::InvalidArgument(format!("cannot tokenise a batch: {e}")))?;
        let tokens = encs.first().map_or(0, |e| e.get_ids().len());
        let widen = |v: &[u32]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        Ok(TokenBatch {
            batch: encs.len(),
            tokens,
            input_ids: encs.iter().flat_map(|e| widen(e.get_ids())).collect(),
            attention_mask: encs
                .iter()
                .flat_map(|e| widen(e.get_attention_mask()))
                .collect(),
            token_type_ids: encs.iter().flat_map(|e| widen(e.get_type_ids())).collect(),
        })
    }

    /// The text of each id (`[CLS]`, `##s`, …).
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| self.inner.id_to_token(i).unwrap_or_else(|| "?".into()))
            .collect()
    }
}
