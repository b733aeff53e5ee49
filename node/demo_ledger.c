#include <stdio.h>
int main(void)
{
    puts("demo: not written yet");
    return 1;
}
