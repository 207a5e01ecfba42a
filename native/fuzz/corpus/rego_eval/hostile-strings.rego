package t
s0 := "xxxxxxxxxxxxxxxx"
s1 := concat("", [s0, s0])
s2 := concat("", [s1, s1])
m := regex.match(`^(a+)+$`, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")
g := glob.match("*.{a,b}.**", ["."], "x.a.y.z")
y := yaml.unmarshal("a: [1, 2, {b: c}]")
j := json.unmarshal(`{"a":[1,2,{"b":1e400}]}`)
