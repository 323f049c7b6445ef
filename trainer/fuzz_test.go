package trainer

import "testing"

// FuzzConfig: any TOML text and any -set override either give an error or
// a configuration that validates, resolves to a model within the limits,
// and survives being printed and read back (what config.toml and every
// checkpoint store). Seeds: testdata/fuzz/FuzzConfig (the shipped
// configurations among them) and the defaults.
func FuzzConfig(f *testing.F) {
	f.Add(Default().TOML(), "train.epochs=3")
	f.Fuzz(func(t *testing.T, text, override string) {
		c := Default()
		if err := c.decode("fuzz", text); err != nil {
			return
		}
		if err := c.Set(override); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		if _, err := c.ModelConfig(1, 1); err != nil {
			t.Fatalf("valid config does not resolve its model: %v", err)
		}
		back := Default()
		if err := back.decode("printed", c.TOML()); err != nil {
			t.Fatalf("printed config does not decode: %v\n%s", err, c.TOML())
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("printed config does not validate: %v\n%s", err, c.TOML())
		}
	})
}
