package torchpt

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// allowedGlobals is everything a state-dict pickle may name: the tensor
// rebuild function, the ordered dict state_dict() returns and the typed
// storages (torch/serialization.py and torch/_utils.py, PyTorch 1.13).
var allowedGlobals = map[string]bool{
	"torch._utils._rebuild_tensor_v2": true,
	"collections.OrderedDict":         true,
	"torch.FloatStorage":              true,
	"torch.HalfStorage":               true,
	"torch.DoubleStorage":             true,
	"torch.BFloat16Storage":           true,
	"torch.LongStorage":               true,
	"torch.IntStorage":                true,
	"torch.ShortStorage":              true,
	"torch.CharStorage":               true,
	"torch.ByteStorage":               true,
	"torch.BoolStorage":               true,
}

// Pickle opcodes (Python's Lib/pickletools.py) grouped by how their argument
// is encoded. Opcodes not listed anywhere (INST, EXT1/2/4, out-of-band
// buffers, anything unknown) are refused.
var (
	noArg = "(.012N" + "RabdeloustQ)}]" + "\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x94"
	// fixed-size arguments, by size in bytes
	fixedArg = map[byte]int{'K': 1, 'h': 1, 'q': 1, 0x80: 1, 'M': 2, 'J': 4, 'j': 4, 'r': 4, 'G': 8}
	// a little-endian length of this many bytes, then that many bytes
	countedArg = map[byte]int{'U': 1, 'C': 1, 0x8c: 1, 0x8a: 1, 'T': 4, 'B': 4, 'X': 4, 0x8b: 4, 0x8d: 8, 0x8e: 8, 0x96: 8}
	// newline-terminated text arguments
	lineArg = "ILFSVPgp"
)

// scan walks the opcodes of a pickle without executing any of them and
// returns an error unless (1) every class or function it names (GLOBAL, or
// STACK_GLOBAL whose two strings it can trace) is in allowedGlobals, (2)
// it uses no opcode that could name code any other way (INST, the
// extension registry, out-of-band buffers), and (3) every length it
// announces fits in the bytes that remain, so the unpickler never allocates
// more than the pickle's own size.
func scan(p []byte) error {
	var (
		pos    int
		recent []*string           // what the last opcodes pushed, when traceable (nil: unknown)
		memo   = map[int]*string{} // memo entries holding a traced string
		nmemo  int                 // next MEMOIZE index
	)
	push := func(s *string) {
		recent = append(recent, s)
		if len(recent) > 2 {
			recent = recent[1:]
		}
	}
	top := func() *string {
		if len(recent) == 0 {
			return nil
		}
		return recent[len(recent)-1]
	}
	for pos < len(p) {
		op, at := p[pos], pos
		pos++
		switch {
		case op == '.':
			if pos != len(p) {
				return fmt.Errorf("pickle: %d bytes after STOP", len(p)-pos)
			}
			return nil
		case op == 'c': // GLOBAL "module\nname\n"
			var mod, name string
			var err error
			if mod, pos, err = line(p, pos); err == nil {
				name, pos, err = line(p, pos)
			}
			if err != nil {
				return fmt.Errorf("pickle: GLOBAL at byte %d: %w", at, err)
			}
			if err := allowed(mod, name); err != nil {
				return err
			}
			recent = nil
			push(nil)
		case op == 0x93: // STACK_GLOBAL: module and name are the two strings below
			if len(recent) < 2 || recent[0] == nil || recent[1] == nil {
				return fmt.Errorf("%w: STACK_GLOBAL at byte %d takes its name from values that cannot be checked", ErrUnsafe, at)
			}
			if err := allowed(*recent[0], *recent[1]); err != nil {
				return err
			}
			recent = nil
			push(nil)
		case op == 0x94: // MEMOIZE
			memo[nmemo] = top()
			nmemo++
		case op == 'q' || op == 'r' || op == 'p': // BINPUT, LONG_BINPUT, PUT
			idx, next, err := index(p, pos, op)
			if err != nil {
				return fmt.Errorf("pickle: PUT at byte %d: %w", at, err)
			}
			memo[idx], pos = top(), next
		case op == 'h' || op == 'j' || op == 'g': // BINGET, LONG_BINGET, GET
			idx, next, err := index(p, pos, op)
			if err != nil {
				return fmt.Errorf("pickle: GET at byte %d: %w", at, err)
			}
			pos = next
			push(memo[idx])
		case op == 0x8c || op == 'X' || op == 0x8d: // unicode strings: traceable
			n, next, err := counted(p, pos, countedArg[op])
			if err != nil {
				return fmt.Errorf("pickle: string at byte %d: %w", at, err)
			}
			s := string(p[next : next+n])
			pos = next + n
			push(&s)
		case countedArg[op] > 0:
			n, next, err := counted(p, pos, countedArg[op])
			if err != nil {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d: %w", op, at, err)
			}
			pos = next + n
			push(nil)
		case op == 0x95: // FRAME: its length must fit; its contents are ordinary opcodes
			if pos+8 > len(p) {
				return fmt.Errorf("pickle: truncated FRAME at byte %d", at)
			}
			if n := binary.LittleEndian.Uint64(p[pos:]); n > uint64(len(p)-pos-8) {
				return fmt.Errorf("pickle: FRAME at byte %d announces %d bytes, %d remain", at, n, len(p)-pos-8)
			}
			pos += 8
		case fixedArg[op] > 0:
			if pos+fixedArg[op] > len(p) {
				return fmt.Errorf("pickle: truncated opcode 0x%02x at byte %d", op, at)
			}
			pos += fixedArg[op]
			push(nil)
		case strings.IndexByte(lineArg, op) >= 0:
			_, next, err := line(p, pos)
			if err != nil {
				return fmt.Errorf("pickle: opcode %q at byte %d: %w", op, at, err)
			}
			pos = next
			push(nil)
		case strings.IndexByte(noArg, op) >= 0:
			push(nil)
		case op == 'i':
			return fmt.Errorf("%w: INST at byte %d names a class to instantiate", ErrUnsafe, at)
		default:
			return fmt.Errorf("%w: opcode 0x%02x at byte %d is not accepted in a state dict (extension registry, out-of-band buffer or unknown)", ErrUnsafe, op, at)
		}
	}
	return fmt.Errorf("pickle: no STOP opcode (truncated)")
}

// allowed returns an error naming module.name unless it is in the
// tensor-rebuild set.
func allowed(mod, name string) error {
	if !allowedGlobals[mod+"."+name] {
		return fmt.Errorf("%w: the pickle names %s.%s, which is not a tensor-rebuild function; nothing was run", ErrUnsafe, mod, name)
	}
	return nil
}

// line returns the text up to the next newline starting at pos and the
// position after it.
func line(p []byte, pos int) (string, int, error) {
	i := strings.IndexByte(string(p[pos:min(len(p), pos+4096)]), '\n')
	if i < 0 {
		return "", 0, fmt.Errorf("unterminated line")
	}
	return string(p[pos : pos+i]), pos + i + 1, nil
}

// counted reads a little-endian length of size bytes at pos and checks that
// many bytes remain after it.
func counted(p []byte, pos, size int) (int, int, error) {
	if pos+size > len(p) {
		return 0, 0, fmt.Errorf("truncated length")
	}
	var n uint64
	for i := size - 1; i >= 0; i-- {
		n = n<<8 | uint64(p[pos+i])
	}
	pos += size
	if n > uint64(len(p)-pos) {
		return 0, 0, fmt.Errorf("announces %d bytes, %d remain", n, len(p)-pos)
	}
	return int(n), pos, nil
}

// index reads the memo index of a GET or PUT opcode (1 or 4 bytes, or a
// decimal line).
func index(p []byte, pos int, op byte) (int, int, error) {
	switch op {
	case 'h', 'q':
		if pos+1 > len(p) {
			return 0, 0, fmt.Errorf("truncated")
		}
		return int(p[pos]), pos + 1, nil
	case 'j', 'r':
		if pos+4 > len(p) {
			return 0, 0, fmt.Errorf("truncated")
		}
		return int(binary.LittleEndian.Uint32(p[pos:])), pos + 4, nil
	}
	s, next, err := line(p, pos)
	if err != nil {
		return 0, 0, err
	}
	var idx int
	if _, err := fmt.Sscan(s, &idx); err != nil {
		return 0, 0, fmt.Errorf("memo index %q: %w", s, err)
	}
	return idx, next, nil
}
