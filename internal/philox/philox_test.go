package philox

import (
	"math/rand/v2"
	"testing"
)

// TestBlockKnownAnswers checks Block against the three philox4x32 10 known
// answers of Random123's tests/kat_vectors (counter[4], key[2] → output[4]).
func TestBlockKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Block(c.key, c.ctr); got != c.want {
			t.Errorf("Block(%08x, %08x) = %08x, want %08x", c.key, c.ctr, got, c.want)
		}
	}
}

func TestGeneratorStreamAndState(t *testing.T) {
	g := New(0x299f31d0a4093822)
	b := g.Next()
	if want := Block([2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{}); b != want || g.Counter != 1 {
		t.Fatalf("first block %08x counter %d, want %08x counter 1", b, g.Counter, want)
	}
	g.Uint64()
	state, _ := g.MarshalBinary()
	want := []uint64{g.Uint64(), g.Uint64()}
	var h Generator
	if err := h.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if got := []uint64{h.Uint64(), h.Uint64()}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("restored stream %x, want %x", got, want)
	}
	pcg, _ := rand.NewPCG(1, 2).MarshalBinary()
	if err := h.UnmarshalBinary(pcg); err == nil {
		t.Error("a PCG state was accepted")
	}
}

func TestKeepMask(t *testing.T) {
	g := New(7)
	mask := make([]float32, 4000)
	g.KeepMask(mask, 0.75)
	if g.Counter != 4000 {
		t.Fatalf("counter %d after 4000 draws", g.Counter)
	}
	kept := 0
	for i, f := range mask {
		switch f {
		case float32(1 / 0.75):
			kept++
		case 0:
		default:
			t.Fatalf("factor %d is %v", i, f)
		}
		if keep := Uniform32(Block(Key(7), Counter(uint64(i)))[0]) < 0.75; keep != (f != 0) {
			t.Fatalf("sample %d: factor %v disagrees with its draw", i, f)
		}
	}
	if kept < 2900 || kept > 3100 {
		t.Errorf("kept %d of 4000 at keep 0.75", kept)
	}
	if u := Uniform32(0xffffffff); u >= 1 || Uniform32(0) != 0 {
		t.Errorf("Uniform32 range: max %v", u)
	}
}
