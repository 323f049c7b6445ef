package datasets

import "errors"

// ErrFormat is wrapped by every error about a malformed dataset file: wrong
// magic number, wrong dimensions, truncated or trailing data, an
// undecodable image.
var ErrFormat = errors.New("bad dataset file")

// ErrLimit is wrapped when a file announces more than a configured limit
// allows: an image over its pixel budget ([DefaultMaxPixels]), an IDX file
// or CIFAR batch over [MaxFileBytes].
var ErrLimit = errors.New("dataset file over a size limit")

// ErrClasses is wrapped when an ImageFolder's class directories differ from
// the ones required ([ImageFolderOptions].Classes).
var ErrClasses = errors.New("image folder classes differ")

// ErrLabel is wrapped by errors about a label outside [0, classes).
var ErrLabel = errors.New("label out of range")

// ErrEmptyClass is wrapped when an ImageFolder class directory holds no
// image, or the root holds no class directory.
var ErrEmptyClass = errors.New("empty image folder class")

// ErrChecksum is wrapped when downloaded bytes do not match the published
// MD5 or SHA-256 digest.
var ErrChecksum = errors.New("checksum mismatch")
