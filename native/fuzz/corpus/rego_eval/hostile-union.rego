package t
objs := [{"a": {sprintf("k%d", [i]): i}} | some i in numbers.range(1, 300)]
p := count(object.union_n(objs).a)
q := to_number(concat("", ["1", "0000000000"]))
r := sprintf("%5d|%-4s|%v", [1, "x", [1, {"a": 2}]])
s := [x | some x in numbers.range(1, 5); x > 2]
