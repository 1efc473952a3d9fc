package configs

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// TestScanKeysAgreesWithDecoder feeds the scanner the TOML constructs that
// could trip it and checks it finds the decoder's keys, in its order.
func TestScanKeysAgreesWithDecoder(t *testing.T) {
	docs := map[string]string{
		"tables and arrays of tables":        "[[policy]]\nname = \"a\"\n[policy.match]\ncgroup = [\"/x\"]\n[[policy]]\nname = \"b\"\n",
		"comments with brackets and equals":  "# [[policy]] = x\n[[policy]] # [policy.files]\nname = \"a\" # b = 1\n",
		"multi-line basic string":            "a = \"\"\"\n[[policy]]\nb = \\\"\"\" \"\n\"\"\"\nc = 1\n",
		"multi-line string ending in quotes": "a = \"\"\"x\"\"\"\"\"\nb = '''y'''''\nc = 1\n",
		"multi-line literal string":          "a = '''\n# not a comment\n[x]\n'''\nb = 2\n",
		"escaped quote in string":            "a = \"x\\\"]#\"\nb = 'c:\\'\nc = 3\n",
		"quoted and dotted keys":             "\"io.kubernetes.pod.namespace\" = \"x\"\n'lit.key' = 1\na . \"b.c\" . d = 2\n\"esc\\u0041\" = 3\n",
		"inline tables":                      "a = { b = 1, c.d = { e = 2 } }\nf = [ { g = 1 }, { h = [1, 2] } ]\n",
		"multi-line arrays with comments":    "a = [\n  \"x\", # ]\n  [1, 2],\n  \"]\",\n]\nb = 1\n",
		"dates and numbers":                  "a = 1979-05-27 07:32:00Z\nb = 1_000\nc = -inf\nd = 1979-05-27\ne = 07:32:00\n",
		"table header with spaces":           "[ a . \"b\" ]\nc = 1\n[[ d ]]\ne = 2\n",
		"crlf line endings":                  "[[policy]]\r\nname = \"a\"\r\n[policy.files]\r\nmeminfo = true\r\n",
		"empty document":                     "",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var v map[string]any
			md, err := toml.Decode(doc, &v)
			if err != nil {
				t.Fatal(err)
			}
			found := scanKeys(doc)
			want := md.Keys()
			if len(found) != len(want) {
				t.Fatalf("scanned %d keys, decoder has %d: %v", len(found), len(want), found)
			}
			for i := range found {
				if found[i].key.String() != want[i].String() {
					t.Errorf("key %d = %s, decoder has %s", i, found[i].key, want[i])
				}
			}
			if len(want) > 0 && indexPositions(doc, want) == nil {
				t.Error("indexPositions dropped the positions")
			}
		})
	}
}

func TestIndexPositions(t *testing.T) {
	doc := "[[policy]]\nname = \"a\"\n\n[[policy]]\n  name = \"b\"\n[policy.match]\ncgroup = [\n  \"/x\",\n\t\"/y\",\n]\n"
	var v map[string]any
	md, err := toml.Decode(doc, &v)
	if err != nil {
		t.Fatal(err)
	}
	ps := indexPositions(doc, md.Keys())
	tests := []struct {
		name  string
		table int
		key   toml.Key
		elem  int
		want  pos
	}{
		{"first header", 0, toml.Key{"policy"}, -1, pos{1, 1}},
		{"first name", 0, toml.Key{"policy", "name"}, -1, pos{2, 1}},
		{"second header", 1, toml.Key{"policy"}, -1, pos{4, 1}},
		{"indented key", 1, toml.Key{"policy", "name"}, -1, pos{5, 3}},
		{"array key", 1, toml.Key{"policy", "match", "cgroup"}, -1, pos{7, 1}},
		{"array element", 1, toml.Key{"policy", "match", "cgroup"}, 0, pos{8, 3}},
		{"array element after tab", 1, toml.Key{"policy", "match", "cgroup"}, 1, pos{9, 2}},
		{"missing key falls back to its table", 1, toml.Key{"policy", "match", "runtime"}, -1, pos{6, 1}},
		{"missing table falls back to the header", 0, toml.Key{"policy", "files", "x"}, -1, pos{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ps.lookup(tt.table, tt.key, tt.elem)
			if !ok || got != tt.want {
				t.Errorf("lookup(%d, %s, %d) = %v %v, want %v", tt.table, tt.key, tt.elem, got, ok, tt.want)
			}
		})
	}
}

// TestIndexPositionsRefusesDisagreement checks that positions are dropped,
// not guessed, when the scan does not agree with the decoder.
func TestIndexPositionsRefusesDisagreement(t *testing.T) {
	if ps := indexPositions("a = 1\n", []toml.Key{{"b"}}); ps != nil {
		t.Errorf("got %v, want nil", ps)
	}
	if _, ok := positions(nil).lookup(-1, toml.Key{"a"}, -1); ok {
		t.Error("lookup in nil positions found something")
	}
}
