package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestFootprintMatchesModel checks the analytic Footprint against the
// built network: the parameter count against the arena, the activation
// bytes against Describe's per-layer total, on published variants and on
// odd configurations (V1 layer scale, drop path, no GRN, MLP ratio 3, a
// non-square input that does not divide evenly).
func TestFootprintMatchesModel(t *testing.T) {
	odd := smallConfig(t)
	odd.MLPRatio, odd.DropPath, odd.GRN, odd.Kernel, odd.StemPatch = 3, 0.2, false, 5, 2
	v1, _ := Variant("convnext_tiny")
	v1.DropPath = 0.1
	for _, tc := range []struct {
		name    string
		cfg     Config
		n, h, w int
	}{
		{"atto 224", mustVariant(t, "atto"), 2, 224, 224},
		{"huge 224", mustVariant(t, "huge"), 1, 224, 224},
		{"convnext_tiny drop path", v1, 3, 64, 96},
		{"odd", odd, 3, 37, 41},
	} {
		m, err := build(shapeOnly{cpu.New()}, tc.cfg, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := m.CheckFootprint(tc.n, tc.h, tc.w); err != nil {
			t.Error(err)
		}
		f, err := tc.cfg.Footprint(tc.n, tc.h, tc.w)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := int64(4 * tc.n * tc.h * tc.w * tc.cfg.InChans); f.InputBytes != want {
			t.Errorf("%s: input %d bytes, want %d", tc.name, f.InputBytes, want)
		}
	}
}

func mustVariant(t *testing.T, name string) Config {
	t.Helper()
	c, err := Variant(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeConfigCheckpoint writes a safetensors file with no tensors whose
// metadata stores cfgJSON as the model config, the way an attacker would
// craft a 1 KB "checkpoint".
func writeConfigCheckpoint(t *testing.T, cfgJSON string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bomb.safetensors")
	if err := WriteSafetensors(p, nil, map[string]string{MetaFormat: "nextconv", MetaConfig: cfgJSON}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHugeStoredConfig feeds checkpoints of a few hundred bytes whose stored
// config announces an enormous network: each must be refused by
// ConfigFromCheckpoint with an error naming the problem, while allocating
// almost nothing, and New must refuse the same config before allocating.
// It runs in a child process under a 512 MiB address-space limit, so a
// regression dies there instead of taking this machine's memory.
func TestHugeStoredConfig(t *testing.T) {
	testutil.RunBounded(t, 512<<20, func(t *testing.T) {
		base := mustVariant(t, "atto")
		with := func(f func(c *Config)) string {
			c := base
			c.Depths, c.Dims = append([]int(nil), base.Depths...), append([]int(nil), base.Dims...)
			f(&c)
			js, _ := json.Marshal(c)
			return string(js)
		}
		for _, tc := range []struct {
			name, cfg string
			want      []string
		}{
			{"2e9 classes", with(func(c *Config) { c.NumClasses = 2_000_000_000 }), []string{"num_classes 2000000000"}},
			{"dims 1e6", with(func(c *Config) { c.Dims = []int{1e6, 1e6, 1e6, 1e6} }), []string{"dim 1000000", "dims in [1, 65536]"}},
			{"depth 1e8", with(func(c *Config) { c.Depths = []int{2, 2, 1e8, 2} }), []string{"stage 2 has depth 100000000"}},
			{"100 stages", with(func(c *Config) { c.Depths, c.Dims = make([]int, 100), make([]int, 100) }), []string{"100 stages"}},
			{"kernel 1e6+1", with(func(c *Config) { c.Kernel = 1e6 + 1 }), []string{"kernel 1000001"}},
			{"stem 1e6", with(func(c *Config) { c.StemPatch = 1e6 }), []string{"stem_patch 1000000"}},
			{"input 1e6 px", with(func(c *Config) { c.InputSize = 1e6 }), []string{"input_size 1000000"}},
			{"mlp ratio 1e9", with(func(c *Config) { c.MLPRatio = 1e9 }), []string{"mlp_ratio 1e+09"}},
			{"params over budget", with(func(c *Config) { c.Dims = []int{MaxDim, MaxDim, MaxDim, MaxDim} }), []string{"parameters, over the limit", "-max-params"}},
			{"memory over budget", with(func(c *Config) { c.InputSize = MaxInputSize }), []string{"GiB", "over the limit", "-max-memory"}},
			{"not JSON", `{"depths": [2, 2`, []string{"stored config"}},
			{"huge config text", `{"name": "` + strings.Repeat("x", 100<<10) + `"}`, []string{"stored config of 102412 bytes"}},
		} {
			p := writeConfigCheckpoint(t, tc.cfg)
			var err error
			alloc := testutil.Allocated(func() { _, err = ConfigFromCheckpoint(p) })
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			for _, w := range append(tc.want, "bomb.safetensors") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
				}
			}
			if alloc > 4<<20 {
				t.Errorf("%s: refusing it allocated %d bytes", tc.name, alloc)
			}
			var c Config
			if json.Unmarshal([]byte(tc.cfg), &c) == nil {
				alloc = testutil.Allocated(func() { _, err = New(cpu.New(), c, 0) })
				if err == nil || alloc > 4<<20 {
					t.Errorf("%s: New gave %v after allocating %d bytes", tc.name, err, alloc)
				}
			}
		}
	})
}

// TestLimitsCanBeRaised shows the budget is a policy, not a wall: a model
// over the default parameter budget is accepted once SetLimits raises it,
// and a forward pass over the memory budget is refused before it runs.
func TestLimitsCanBeRaised(t *testing.T) {
	big := mustVariant(t, "huge")
	big.NumClasses = 1 << 20 // 2816·2^20 ≈ 3 G head parameters
	if err := big.CheckLimits(); err == nil || !strings.Contains(err.Error(), "-max-params") {
		t.Fatalf("default limits: %v", err)
	}
	prev := SetLimits(Limits{MaxParams: 1 << 33, MaxMemory: 1 << 40})
	err := big.CheckLimits()
	SetLimits(prev)
	if err != nil {
		t.Errorf("raised limits: %v", err)
	}
	if got := CurrentLimits(); got != DefaultLimits() {
		t.Errorf("limits after restore %+v", got)
	}

	be := cpu.New()
	m, err := New(be, smallConfig(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	x, err := be.Alloc(kernels.Shape{2, 32, 32, 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Config.Footprint(2, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	prev = SetLimits(Limits{MaxMemory: f.Bytes() - 1})
	_, err = m.Forward(x)
	SetLimits(Limits{MaxMemory: f.Bytes()})
	_, errExact := m.Forward(x)
	SetLimits(prev)
	if err == nil || !strings.Contains(err.Error(), "-max-memory") {
		t.Errorf("forward one byte over the budget: %v", err)
	}
	if errExact != nil {
		t.Errorf("forward exactly within the budget: %v", errExact)
	}
}

// TestCompoundScalingBounded: a large φ is an error from Scale, not an
// integer overflow or a model of billions of blocks.
func TestCompoundScalingBounded(t *testing.T) {
	for _, phi := range []float64{50, 1e300} {
		_, err := mustVariant(t, "atto").Scale(phi, EfficientNetCompound())
		if err == nil || !strings.Contains(err.Error(), "compound scaling") {
			t.Errorf("φ=%v: %v", phi, err)
		}
	}
}

// TestReadMetadataBounded: a header that announces more bytes than the file
// holds is refused before the header is allocated.
func TestReadMetadataBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "liar.safetensors")
	if err := os.WriteFile(p, []byte{0, 0, 0, 0x10, 0, 0, 0, 0, '{', '}'}, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	alloc := testutil.Allocated(func() { _, err = ReadMetadata(p) })
	if err == nil || !strings.Contains(err.Error(), "header of 268435456 bytes in a file of 10") || alloc > 1<<20 {
		t.Errorf("got %v after %d bytes", err, alloc)
	}
}
