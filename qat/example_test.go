package qat_test

import (
	"fmt"
	"log"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// ExampleQuantizeModel shows the QAT flow a trainer follows: wrap a float
// model, train with observers running, freeze them after a few epochs,
// checkpoint the quantizer state, and read the qparams an int8 exporter
// writes.
func ExampleQuantizeModel() {
	be := cpu.New()
	cfg, _ := models.Variant("atto")
	cfg.Dims, cfg.Depths, cfg.NumClasses, cfg.InChans = []int{8, 16, 24, 32}, []int{1, 1, 1, 1}, 3, 1
	m, err := models.New(be, cfg, 1) // in practice: load the float checkpoint here
	if err != nil {
		log.Fatal(err)
	}

	// W8A8 for TensorRT; stem conv and head stay float.
	qs, err := qat.QuantizeModel(be, m.Net, qat.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	// (with LSQ: m.Arena, _ = layers.NewArena(be, m.Net.Params()) here,
	// then build the optimizer over the new arena)

	x, _ := be.Alloc(kernels.Shape{2, 32, 32, 1})
	for i := range x.Host32() {
		x.Host32()[i] = float32(i%7) - 3
	}
	for epoch := range 2 { // training steps: observers update every Forward
		if _, err := m.Forward(x); err != nil {
			log.Fatal(err)
		}
		if epoch == 0 {
			qat.FreezeObservers(qs) // torchvision freezes after 4 epochs
		}
	}

	state := qat.State(qs) // save next to the model's tensors
	fmt.Println(len(qs), "wrapped layers;", len(state), "state tensors")
	fc1 := qs[1]
	s, z, _ := fc1.Weight.QParams() // per output channel, zero points 0
	fmt.Println(fc1.Name(), len(s), "weight scales, zero point", z[0])
	s, z, _ = fc1.Input.QParams() // per tensor
	fmt.Println(fc1.Input.Name(), len(s), "scale, zero point", z[0])
	// Output:
	// 15 wrapped layers; 330 state tensors
	// stages.0.blocks.0.mlp.fc1 32 weight scales, zero point 0
	// stages.0.blocks.0.mlp.fc1.input_fake_quant 1 scale, zero point 0
}
