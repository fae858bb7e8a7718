module example.com/BigCo/widgets

go 1.21

require example.com/greet v1.1.0
