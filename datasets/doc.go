// Package datasets reads image-classification datasets, augments them the way
// timm and torchvision do, and yields host batches for nextconv's trainer. It
// never touches device memory: the trainer uploads each [Batch].
//
// # Layout
//
// Decoded images are 8-bit, HWC (channels last): channel c of pixel (y, x) of
// an H×W×C [Image] is Pix[(y*W+x)*C+c]. Small datasets (MNIST, Fashion-MNIST,
// CIFAR) stay in memory in that form, so a 60,000-image Fashion-MNIST split
// takes 47 MB. Batches are float32 NHWC: element (n, h, w, c) of an N×H×W×C
// batch is Images[((n*H+h)*W+w)*C+c], normalised at batch time as
// (v/255 − mean[c]) / std[c] (torchvision ToTensor + Normalize).
//
// # Pipeline
//
// A [Pipeline] runs 8-bit [ImageOp]s (crops, flips, RandAugment), then
// [Normalize], then float [TensorOp]s (random erasing), matching the order of
// timm's create_transform: primary (crop, flip) → secondary (RandAugment) →
// ToTensor + Normalize → RandomErasing. [NewTrainPipeline] and
// [NewEvalPipeline] build the ConvNeXt V2 fine-tuning recipe (design note
// docs/CONVNEXTV2.md §3.2), including its rule for inputs of 32 pixels or less:
// RandomCrop(size, padding=4) in place of RandomResizedCrop.
//
// # Determinism
//
// Every random decision for the sample with dataset index i in epoch e is
// drawn from an [RNG] seeded by (seed, e, i) alone ([SampleRNG]), and the
// order of an epoch is a permutation seeded by (seed, e) alone
// ([Permutation]). Nothing depends on shared state, worker count or
// scheduling, so a [Loader] restarted from a saved [State] produces the same
// bytes as one that never stopped. The RNG is PCG (math/rand/v2), whose output
// Go documents as stable; the derived draws (uniform, bounded integers,
// normals) are implemented here so they cannot change with the Go release.
//
// # Errors
//
// Readers return errors that name the file and say what is wrong; they wrap
// [ErrFormat] (bad magic, truncated or inconsistent files), [ErrLabel] (label
// out of range), [ErrLimit] (over a size limit), [ErrEmptyClass] (an
// ImageFolder class without images), [ErrClasses] (a validation folder whose
// classes differ from the training folder's) or the os error for a missing
// file. Downloads wrap [ErrChecksum] when the bytes do not match the
// published digest, and list every mirror's error when all fail.
//
// # Limits
//
// Dataset files are untrusted: no size a header announces is allocated
// before it is checked. An IDX file or CIFAR batch may hold at most
// [MaxFileBytes] (1 GiB) and no more than its file can: its size when raw,
// 1032 times its size when gzip-compressed (DEFLATE's largest expansion);
// data is then read incrementally, so memory follows what the stream
// delivers. An ImageFolder image's header must announce at most
// ImageFolderOptions.MaxPixels ([DefaultMaxPixels], Pillow's limit) before
// it is decoded, and its resized size must fit too. [Download] abandons a
// server that sends nothing for [DefaultIdleTimeout] and a connection that
// takes longer than [DefaultConnectTimeout] (both configurable in
// [DownloadOptions]).
package datasets
