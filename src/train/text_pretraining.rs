//! Masked-language-model pretraining of a BERT folder on report texts (docs/CONVIRT.md,
//! "Running on the synthetic corpus"): what Bio_ClinicalBERT went through on clinical notes before
//! ConVIRT used it, here on a corpus's own reports, so its text encoder starts knowing the
//! reports' words instead of at random. BERT's recipe: 15 % of the word-piece tokens (never
//! `[CLS]`, `[SEP]` or padding) are chosen; of those 80 % become `[MASK]`, 10 % a random token,
//! 10 % stay; the loss is the cross-entropy of predicting the chosen tokens through Hugging
//! Face's `BertForMaskedLM` head (dense, GELU, LayerNorm, the word embeddings as the decoder,
//! a bias). Dropout off and a seeded generator: the same seed gives the same weights.

use std::path::Path;

use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::networks::checkpoint::write_safetensors;
use crate::networks::convirt_weights::{bert_config_of, hf_weights_file, load_bert_folder};
use crate::networks::nets::{BertConfig, BertModel};
use crate::networks::state_dict::{Arch, export_state_dict};
use crate::text::ReportTokenizer;
use crate::transforms::rng::RandomState;

/// `BertForMaskedLM`'s prediction head; the decoder is the word embeddings (tied, as HF ties it).
#[derive(Module, Debug)]
pub struct MlmHead<B: Backend> {
    pub dense: Linear<B>,
    pub layer_norm: LayerNorm<B>,
    pub bias: Param<Tensor<B, 1>>,
}

/// BERT with its masked-LM head.
#[derive(Module, Debug)]
pub struct BertForMaskedLm<B: Backend> {
    pub bert: BertModel<B>,
    pub head: MlmHead<B>,
}

impl<B: Backend> BertForMaskedLm<B> {
    pub fn new(bert: BertModel<B>, cfg: &BertConfig, device: &B::Device) -> Self {
        let h = cfg.hidden_size;
        BertForMaskedLm {
            bert,
            head: MlmHead {
                dense: LinearConfig::new(h, h).init(device),
                layer_norm: LayerNormConfig::new(h)
                    .with_epsilon(cfg.layer_norm_eps)
                    .init(device),
                bias: Param::from_tensor(Tensor::zeros([cfg.vocab_size], device)),
            },
        }
    }

    /// Token logits `[batch, tokens, vocab]`.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        types: Tensor<B, 2, Int>,
        mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let h = self.bert.forward(ids, types, mask).last_hidden_state;
        let h = self
            .head
            .layer_norm
            .forward(gelu(self.head.dense.forward(h)));
        let [b, t, d] = h.dims();
        let words = self.bert.embeddings.word_embeddings.weight.val();
        let v = words.dims()[0];
        let logits = h.reshape([b * t, d]).matmul(words.transpose());
        (logits + self.head.bias.val().unsqueeze::<2>()).reshape([b, t, v])
    }
}

/// How the pretraining went.
#[derive(Debug, Clone, Serialize)]
pub struct MlmSummary {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Mean loss of the first and the last tenth of the steps.
    pub first_loss: f64,
    pub last_loss: f64,
}

/// The special ids masking needs, from the tokeniser.
struct Specials {
    mask: i64,
    keep: [i64; 3],
    vocab: i64,
}

impl Specials {
    /// The ids of BERT's special tokens in the tokeniser's vocabulary (of `vocab` entries).
    fn of(tokenizer: &ReportTokenizer, dir: &Path, vocab: usize) -> Result<Self> {
        let id = |t: &str| -> Result<i64> {
            (tokenizer.token_id(t).map(i64::from))
                .ok_or_else(|| Error::bad_file(dir, format!("the vocabulary has no {t}")))
        };
        Ok(Specials {
            mask: id("[MASK]")?,
            keep: [id("[CLS]")?, id("[SEP]")?, id("[PAD]")?],
            vocab: vocab as i64,
        })
    }
}

/// Masks `ids` (row-major `[batch, tokens]`, `attention` 1 for tokens) as BERT does; returns the
/// masked ids, the targets and a 0/1 weight per position (1 where a token was chosen).
fn mask_tokens(
    ids: &[i64],
    attention: &[i64],
    s: &Specials,
    rng: &mut RandomState,
) -> (Vec<i64>, Vec<f32>) {
    let mut masked = ids.to_vec();
    let mut weight = vec![0f32; ids.len()];
    for i in 0..ids.len() {
        if attention[i] == 0 || s.keep.contains(&ids[i]) || rng.random_sample() >= 0.15 {
            continue;
        }
        weight[i] = 1.0;
        let r = rng.random_sample();
        if r < 0.8 {
            masked[i] = s.mask;
        } else if r < 0.9 {
            masked[i] = rng.randint(0, s.vocab);
        }
    }
    (masked, weight)
}

/// Trains the BERT in `dir` (`config.json`, `vocab.txt`, weights) on `texts` by masked-language
/// modelling for `steps` steps of `batch` texts, and rewrites its `model.safetensors`.
pub fn pretrain_bert_folder<B: AutodiffBackend>(
    dir: &Path,
    texts: &[String],
    steps: usize,
    seed: u64,
    device: &B::Device,
) -> Result<MlmSummary> {
    if texts.is_empty() {
        return Err(Error::InvalidArgument(
            "no texts to pretrain BERT on".into(),
        ));
    }
    let (batch, learning_rate) = (32.min(texts.len()), 1e-3);
    let mut cfg = bert_config_of(dir)?;
    // Dropout off: the same seed gives the same weights.
    cfg.hidden_dropout_prob = 0.0;
    cfg.attention_probs_dropout_prob = 0.0;
    let mut bert: BertModel<B> = cfg.init(device);
    load_bert_folder(&mut bert, dir)?;
    let tokenizer = ReportTokenizer::from_model_dir(dir, true, cfg.max_position_embeddings)?;
    let specials = Specials::of(&tokenizer, dir, cfg.vocab_size)?;
    let mut model = BertForMaskedLm::new(bert, &cfg, device);
    let mut optim = AdamConfig::new().init();
    let mut rng = RandomState::new((seed ^ (seed >> 32)) as u32);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    let mut losses = Vec::with_capacity(steps);
    let ints = |v: Vec<i64>, shape: [usize; 2]| {
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, shape), device)
    };
    for step in 0..steps {
        if (step * batch) % texts.len() < batch {
            rng.shuffle(&mut order);
        }
        let picked: Vec<String> = (0..batch)
            .map(|k| texts[order[(step * batch + k) % texts.len()]].clone())
            .collect();
        let t = tokenizer.encode_batch(&picked)?;
        let (masked, weight) = mask_tokens(&t.input_ids, &t.attention_mask, &specials, &mut rng);
        let chosen: f32 = weight.iter().sum();
        if chosen == 0.0 {
            continue;
        }
        let shape = [t.batch, t.tokens];
        let logits = model.forward(
            ints(masked, shape),
            ints(t.token_type_ids.clone(), shape),
            ints(t.attention_mask.clone(), shape),
        );
        let v = cfg.vocab_size;
        let logp = log_softmax(logits.reshape([t.batch * t.tokens, v]), 1);
        let targets = Tensor::<B, 1, Int>::from_data(
            TensorData::new(t.input_ids.clone(), [t.batch * t.tokens]),
            device,
        );
        let picked_logp = logp.gather(1, targets.unsqueeze_dim(1)).squeeze_dim::<1>(1);
        let weight =
            Tensor::<B, 1>::from_data(TensorData::new(weight, [t.batch * t.tokens]), device);
        let loss = (picked_logp * weight).sum().neg().div_scalar(chosen);
        let value = super::batch_tensors::scalar(loss.clone());
        if !value.is_finite() {
            return Err(Error::Training(format!(
                "the masked-LM loss is not finite ({value}) at step {}",
                step + 1
            )));
        }
        losses.push(value);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(learning_rate, model, grads);
    }
    let tenth = (losses.len() / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let bert = model.valid().bert;
    let weights = hf_weights_file(dir)?;
    write_safetensors(&weights, &export_state_dict(&bert, Arch::Bert)?)?;
    Ok(MlmSummary {
        steps: losses.len(),
        batch,
        learning_rate,
        first_loss: mean(&losses[..tenth.min(losses.len())]),
        last_loss: mean(&losses[losses.len().saturating_sub(tenth)..]),
    })
}
