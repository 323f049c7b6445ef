// Package philox is the counter-based generator Philox4x32-10 (Salmon,
// Moraes, Dror and Shaw 2011, "Parallel random numbers: as easy as 1, 2,
// 3", SC'11, section 4; the generator cuRAND and PyTorch's CUDA backend
// use). kernels/src/random.cu implements the same function, so the CPU
// and CUDA backends draw the same numbers for the same (seed, counter).
//
// A [Generator] is a seed (the 64-bit key) and a 64-bit counter: block c
// is Block(key(seed), [c_lo, c_hi, 0, 0]), four 32-bit words. Every draw
// consumes whole blocks and advances the counter past them, so the state
// that resumes a stream exactly is the pair (Seed, Counter).
package philox

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// The round multipliers and Weyl key increments of Philox4x32 (Salmon et
// al. 2011, table 2; Random123's PHILOX_M4x32_0/1 and PHILOX_W32_0/1).
const (
	m0 = 0xD2511F53
	m1 = 0xCD9E8D57
	w0 = 0x9E3779B9
	w1 = 0xBB67AE85
)

// Rounds is the number of Philox rounds (the "-10" of Philox4x32-10).
const Rounds = 10

// Block returns the Philox4x32-10 bijection of counter ctr under key.
// Each round computes the 32×32→64-bit products of m0·ctr[0] and m1·ctr[2]
// and sets ctr = (hi1⊕ctr[1]⊕k0, lo1, hi0⊕ctr[3]⊕k1, lo0); the key is
// bumped by the Weyl constants between rounds.
func Block(key [2]uint32, ctr [4]uint32) [4]uint32 {
	k0, k1 := key[0], key[1]
	for r := range Rounds {
		if r > 0 {
			k0 += w0
			k1 += w1
		}
		hi0, lo0 := bits.Mul32(m0, ctr[0])
		hi1, lo1 := bits.Mul32(m1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ k0, lo1, hi0 ^ ctr[3] ^ k1, lo0}
	}
	return ctr
}

// Key returns the Philox key of a 64-bit seed: (low word, high word).
func Key(seed uint64) [2]uint32 { return [2]uint32{uint32(seed), uint32(seed >> 32)} }

// Counter returns the Philox counter of block c: (low word, high word, 0, 0).
func Counter(c uint64) [4]uint32 { return [4]uint32{uint32(c), uint32(c >> 32), 0, 0} }

// Uniform32 maps a 32-bit word to a float32 in [0, 1) with 24 random bits:
// (w >> 8)·2⁻²⁴, exact in float32 (as curand_uniform's mantissa fill, but
// including 0 and excluding 1).
func Uniform32(w uint32) float32 { return float32(w>>8) * 0x1p-24 }

// Generator is a Philox4x32-10 stream: the key is Seed, the next block is
// Counter. Its zero value is the stream of seed 0. It implements
// math/rand/v2's Source, so rand.New(g) and gonum's distributions draw
// from it.
type Generator struct {
	Seed    uint64
	Counter uint64
}

// New returns the generator of seed at counter 0.
func New(seed uint64) *Generator { return &Generator{Seed: seed} }

// Next returns the next block and advances the counter by one.
func (g *Generator) Next() [4]uint32 {
	b := Block(Key(g.Seed), Counter(g.Counter))
	g.Counter++
	return b
}

// Uint64 returns words 0 (low) and 1 (high) of the next block; words 2 and
// 3 are discarded, so every value costs one block.
func (g *Generator) Uint64() uint64 {
	b := g.Next()
	return uint64(b[0]) | uint64(b[1])<<32
}

// KeepMask fills mask with drop path's per-sample factors (Huang et al.
// 2016; timm's drop_path with scale_by_keep): sample i is kept, with factor
// float32(1/keep), when Uniform32(word 0 of block Counter+i) <
// float32(keep), and otherwise gets 0. It advances the counter by
// len(mask). kernels/src/random.cu's drop_mask_f32 draws the same factors
// on the device.
func (g *Generator) KeepMask(mask []float32, keep float64) {
	KeepMask(mask, g.Seed, g.Counter, keep)
	g.Counter += uint64(len(mask))
}

// KeepMask is Generator.KeepMask for the stream (seed, counter) without a
// generator to advance: the CPU backend's reference of drop_mask_f32.
func KeepMask(mask []float32, seed, counter uint64, keep float64) {
	k, f := float32(keep), float32(1/keep)
	key := Key(seed)
	for i := range mask {
		mask[i] = 0
		if Uniform32(Block(key, Counter(counter+uint64(i)))[0]) < k {
			mask[i] = f
		}
	}
}

// stateSize is the length of MarshalBinary's encoding.
const stateSize = 4 + 16

// stateMagic prefixes the encoding, so that another generator's state
// (a PCG's, from an older checkpoint) is refused by name.
var stateMagic = [4]byte{'p', 'h', 'x', '1'}

// MarshalBinary encodes the state as "phx1", Seed and Counter (little
// endian): 20 bytes.
func (g *Generator) MarshalBinary() ([]byte, error) {
	b := make([]byte, stateSize)
	copy(b, stateMagic[:])
	binary.LittleEndian.PutUint64(b[4:], g.Seed)
	binary.LittleEndian.PutUint64(b[12:], g.Counter)
	return b, nil
}

// UnmarshalBinary restores a state written by MarshalBinary. It returns an
// error for any other length or prefix (such as a math/rand PCG state).
func (g *Generator) UnmarshalBinary(b []byte) error {
	if len(b) != stateSize || [4]byte(b[:4]) != stateMagic {
		return fmt.Errorf("philox: state of %d bytes is not a Philox4x32-10 state (want %d bytes starting %q)", len(b), stateSize, stateMagic[:])
	}
	g.Seed = binary.LittleEndian.Uint64(b[4:])
	g.Counter = binary.LittleEndian.Uint64(b[12:])
	return nil
}

// Streams of one run seed: Derive(seed, stream) keys each consumer's
// generator, so drop path and mixup never share draws.
const (
	StreamDropPath = 1
	StreamMixup    = 2
)

// Derive returns the key of stream number stream of a run seeded with
// seed: SplitMix64's output function (Steele, Lea and Flood 2014) applied
// to seed + (stream+1)·0x9E3779B97F4A7C15, so nearby seeds and streams get
// unrelated keys.
func Derive(seed, stream uint64) uint64 {
	z := seed + (stream+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}
