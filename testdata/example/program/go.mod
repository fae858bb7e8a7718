module example.com/program

go 1.22

require (
	example.com/BigCo/widgets v1.2.0
	example.com/tools/textutil v0.3.0-RC.1
)

require example.com/greet v1.1.0 // indirect
