package datasets

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// Stream constants keep the sample, permutation and other RNG streams of one
// seed apart.
const (
	streamSample uint64 = 0x6a09e667f3bcc908
	streamPerm   uint64 = 0xbb67ae8584caa73b
)

// mix is the SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): a bijection on uint64 that
// spreads every input bit over the output.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RNG is the random source of one sample (or one epoch's shuffle). It is a
// PCG generator (math/rand/v2.PCG, whose sequence Go documents as stable)
// plus the derived draws transforms need, written here so that their
// results cannot change with the Go release. The zero RNG is valid but
// every zero RNG gives the same stream; use [SampleRNG] or [RNG.Reseed].
// An RNG is not safe for concurrent use.
type RNG struct {
	pcg      rand.PCG
	spare    float64
	hasSpare bool
}

// SampleRNG returns the RNG for the sample with dataset index index in epoch
// epoch of a run seeded with seed. Its stream depends on (seed, epoch, index)
// only.
func SampleRNG(seed uint64, epoch, index int) *RNG {
	r := new(RNG)
	r.Reseed(seed, epoch, index)
	return r
}

// Reseed restarts r on the stream of (seed, epoch, index), as [SampleRNG]
// would, without allocating.
func (r *RNG) Reseed(seed uint64, epoch, index int) {
	r.seedStream(streamSample, seed, uint64(epoch), uint64(index))
}

func (r *RNG) seedStream(stream, seed, a, b uint64) {
	h := mix(mix(seed^stream) ^ a)
	r.pcg.Seed(h, mix(h^mix(b)))
	r.hasSpare = false
}

// Uint64 returns 64 uniformly random bits.
func (r *RNG) Uint64() uint64 { return r.pcg.Uint64() }

// Float64 returns a uniform float64 in [0, 1) with 53 random bits (the
// resolution of Python's random.random).
func (r *RNG) Float64() float64 {
	return float64(r.pcg.Uint64()>>11) * 0x1p-53
}

// Uniform returns a uniform float64 in [a, b), computed as a + (b−a)·u like
// Python's random.uniform.
func (r *RNG) Uniform(a, b float64) float64 { return a + (b-a)*r.Float64() }

// Bernoulli returns true with probability p (u < p with u uniform in [0,1),
// torchvision's "torch.rand(1) < p").
func (r *RNG) Bernoulli(p float64) bool { return r.Float64() < p }

// IntN returns a uniform integer in [0, n) using Lemire's unbiased
// multiply-and-reject method ("Fast random integer generation in an
// interval", ACM TOMACS 2019). It returns 0 when n <= 0.
func (r *RNG) IntN(n int) int {
	if n <= 1 {
		return 0
	}
	un := uint64(n)
	hi, lo := bits.Mul64(r.pcg.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.pcg.Uint64(), un)
		}
	}
	return int(hi)
}

// IntRange returns a uniform integer in [a, b], both ends included, like
// Python's random.randint and torch.randint(a, b+1). It returns a when b < a.
func (r *RNG) IntRange(a, b int) int {
	if b <= a {
		return a
	}
	return a + r.IntN(b-a+1)
}

// Normal returns a standard normal variate (mean 0, std 1) by Marsaglia's
// polar method; the second variate of each pair is kept for the next call.
func (r *RNG) Normal() float64 {
	if r.hasSpare {
		r.hasSpare = false
		return r.spare
	}
	for {
		u := 2*r.Float64() - 1
		v := 2*r.Float64() - 1
		s := u*u + v*v
		if s >= 1 || s == 0 {
			continue
		}
		f := math.Sqrt(-2 * math.Log(s) / s)
		r.spare, r.hasSpare = v*f, true
		return u * f
	}
}

// Permutation returns the order in which epoch epoch of a run seeded with
// seed visits n samples: a Fisher–Yates shuffle of 0..n−1 driven by an RNG
// that depends on (seed, epoch) only.
func Permutation(seed uint64, epoch, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var r RNG
	r.seedStream(streamPerm, seed, uint64(epoch), 0)
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
